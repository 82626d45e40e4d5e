"""Trace integrity: a digest of what a replay executes, signed with the installation's key.

A trace file is plain Markdown that anyone who can write the library can
edit, and the Follower runs its steps with no LLM in the loop. So every trace
llmos writes carries a :class:`~llmos.memory.trace.Seal`: the SHA-256 of the
canonical JSON of what a replay executes or hands on (see
:func:`replayed_content`), and an HMAC-SHA256 of that digest with a key only
this installation holds. A trace is followed, or shown to the Learner as
guidance, only when both check (:meth:`TraceSigner.check`).

The digest covers the id, goal, status, mode, slots, every step's tool,
exact input, postcondition and output, the final answer and an
orchestration's plan record. It leaves out what llmos updates as traces are
used (use and replay counts, money saved, last use) and bookkeeping that
changes nothing a replay does (cost, usage, timings, environment), so
counting a use never needs the key and never invalidates a seal.

Untrusted states, each with its own reason:

* ``unsigned``: no seal (written before llmos signed traces, or imported);
* ``modified``: the content no longer matches the digest (edited after llmos sealed it);
* ``foreign``: the digest matches but the signature does not check with this
  installation's key (sealed elsewhere, or the signature itself was edited).

Migration: traces written before sealing existed are ``unsigned`` and are
not followed until the user trusts them (``llmos traces trust --all`` lists
them and asks once) or ``llmos traces verify`` replays them in the sandbox.
They cannot be trusted automatically: those libraries lived where a task
could write, so an old file proves nothing about who wrote it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from llmos.errors import ConfigError
from llmos.memory.trace import Seal, Trace

#: Bump when :func:`replayed_content` changes: old seals then read as ``modified``.
SCHEME = 1
DIGEST_PREFIX = "sha256:"
HMAC_PREFIX = "hmac-sha256:"
KEY_BYTES = 32
#: Front-matter keys of ``Trace.extra`` that a replay acts on (the orchestrator's plan record).
REPLAYED_EXTRA = ("orchestration",)

TrustState = Literal["trusted", "unsigned", "modified", "foreign"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Trust:
    """Whether a trace may be followed or used as guidance, and why (not)."""

    state: TrustState
    reason: str

    @property
    def trusted(self) -> bool:
        return self.state == "trusted"


TRUSTED = Trust(state="trusted", reason="sealed by this installation; content unchanged")
UNSIGNED = Trust(
    state="unsigned",
    reason="it has no digest or signature (written before llmos signed traces, or imported)",
)
MODIFIED = Trust(
    state="modified",
    reason="its steps, slots or answer do not match its digest: the file was changed after "
    "llmos wrote it",
)
FOREIGN = Trust(
    state="foreign",
    reason="its signature does not check with this installation's key (signed elsewhere, "
    "or the signature was edited)",
)


def replayed_content(trace: Trace) -> dict[str, Any]:
    """What a replay of ``trace`` executes or hands on: the part the digest covers."""
    return {
        "scheme": SCHEME,
        "id": trace.id,
        "goal": trace.goal,
        "status": trace.status,
        "mode": trace.mode,
        "slots": [{"name": s.name, "type": s.type, "value": s.value} for s in trace.slots],
        "steps": [
            {
                "tool": step.tool,
                "input": step.input,
                "postcondition": {
                    "is_error": step.postcondition.is_error,
                    "exit_code": step.postcondition.exit_code,
                    "output_digest": step.postcondition.output_digest,
                    "deterministic": step.postcondition.deterministic,
                    "files_written": dict(step.postcondition.files_written),
                    "files_read": list(step.postcondition.files_read),
                },
                "output": step.output,
            }
            for step in trace.steps
        ],
        "final_answer": trace.final_answer,
        "extra": {key: trace.extra[key] for key in REPLAYED_EXTRA if key in trace.extra},
    }


def digest(trace: Trace) -> str:
    """``sha256:<hex>`` of the canonical JSON of :func:`replayed_content`.

    Canonical: sorted keys, no spaces, ASCII only (lone surrogates and any
    other character are escaped the same way every time).
    """
    canonical = json.dumps(
        replayed_content(trace), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return DIGEST_PREFIX + hashlib.sha256(canonical.encode("ascii")).hexdigest()


class TraceSigner:
    """Seals traces with the installation's key and checks seals.

    The key (32 random bytes, hex) is created with mode 0600 in a 0700 folder
    the first time a trace is sealed; checking never creates it (with no key,
    nothing is trusted yet).

    Example:
        >>> signer = TraceSigner(workspace.trace_key)
        >>> sealed = signer.seal(trace)
        >>> signer.check(sealed).trusted
        True
    """

    def __init__(self, key_path: Path) -> None:
        self.key_path = key_path
        self._key: bytes | None = None

    def seal(self, trace: Trace) -> Trace:
        """``trace`` with a fresh seal (the same one again if its replayed content is unchanged)."""
        value = digest(trace)
        key = self._load(True)
        assert key is not None  # loading with create=True makes the key when there is none
        return replace(trace, integrity=Seal(digest=value, hmac=self._sign(value, key)))

    def check(self, trace: Trace) -> Trust:
        """Whether ``trace`` is as this installation sealed it."""
        seal = trace.integrity
        if seal is None:
            return UNSIGNED
        if not hmac.compare_digest(seal.digest, digest(trace)):
            return MODIFIED
        key = self._load(create=False)
        if key is None or not hmac.compare_digest(seal.hmac, self._sign(seal.digest, key)):
            return FOREIGN
        return TRUSTED

    @staticmethod
    def _sign(value: str, key: bytes) -> str:
        return HMAC_PREFIX + hmac.new(key, value.encode("ascii"), hashlib.sha256).hexdigest()

    def _load(self, create: bool) -> bytes | None:
        if self._key is None:
            self._key = self._read()
        if self._key is None and create:
            self._key = self._create()
        return self._key

    def _read(self) -> bytes | None:
        try:
            text = self.key_path.read_text("ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise self._damaged(f"cannot be read ({exc})") from exc
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != KEY_BYTES:
            raise self._damaged(f"should hold {2 * KEY_BYTES} hex digits")
        return key

    def _create(self) -> bytes:
        """Write a new key atomically; if another process got there first, use theirs."""
        folder = self.key_path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_BYTES)
        temp = folder / f".{self.key_path.name}.{secrets.token_hex(4)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(key.hex() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp, self.key_path)  # fails if the key exists: never replace a key
            except FileExistsError:
                existing = self._read()
                if existing is None:
                    raise self._damaged("vanished while it was being created") from None
                return existing
        finally:
            temp.unlink(missing_ok=True)
        return key

    def _damaged(self, what: str) -> ConfigError:
        return ConfigError(
            f"the trace-signing key {self.key_path} {what}; restore it from a backup, or delete "
            "it (llmos makes a new one, and every trace then needs `llmos traces trust`)",
            key="keys",
        )
