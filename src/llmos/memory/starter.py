"""The starter library: verified everyday traces shipped with llmos, so a first run works offline.

The traces in ``llmos/starter/traces/`` were recorded by
``scripts/make_starter.py`` (each goal learned with scripted turns, judged by
the acceptance check like any run) and signed there with an Ed25519 key kept
outside the repository. They are a read-only scope of the trace library,
searched after the user's own traces and a project's, and followed like any
other trace. Three things differ from the user's own store, all because the
package folder is not the user's:

* trust: a seal is an Ed25519 signature (``ed25519:<hex>`` in the seal's ``hmac``
  field, so the file format is unchanged) checked with the public key shipped
  beside the traces (``llmos/starter/signing-key.pub``), not the installation's
  HMAC; the result is cached per (digest, signature) in the user's state, so
  ``cryptography`` is imported only when a trace is first checked;
* nothing is written to the package: use counts and judged outcomes (a replay
  that could not be healed, a person's ``reject``) live in the user's state
  (``memory/starter/state.json``) and are laid over the files when read;
* trust, edit, import and delete are refused: a starter trace is either as
  shipped or not used. ``[library] starter = false`` switches the scope off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from llmos.errors import ConfigError
from llmos.files import write_atomic
from llmos.memory.index import entry_for
from llmos.memory.integrity import MODIFIED, TRUSTED, UNSIGNED, Trust, digest
from llmos.memory.store import ImportReport, TraceStore
from llmos.memory.trace import Seal, Trace, utc_now
from llmos.outcome import Outcome, parse_kind

#: The shipped starter library: the traces and the public half of the key that signed them.
STARTER_DIR = Path(__file__).resolve().parent.parent / "starter"
STARTER_TRACES = STARTER_DIR / "traces"
PUBLIC_KEY_FILE = STARTER_DIR / "signing-key.pub"
SIGNATURE_PREFIX = "ed25519:"
#: What a starter trace's origin is called in events, results and listings.
STARTER = "starter"

STARTER_FOREIGN = Trust(
    state="foreign",
    reason="its signature does not check with the starter library's public key "
    "(the file was changed or replaced after llmos shipped it)",
)
_READ_ONLY = (
    "trace {id} is in the starter library shipped with llmos, which is read-only; "
    "switch the starter library off with `[library] starter = false` in llmos.toml"
)
#: Fields of the user's state laid over a starter trace (none of them is signed).
_COUNTERS = ("use_count", "replay_successes", "replay_failures", "saved_usd", "last_used")


def public_key_hex(path: Path = PUBLIC_KEY_FILE) -> str:
    """The shipped public key, 64 hex digits (raw Ed25519)."""
    try:
        text = path.read_text("ascii").strip()
    except OSError as exc:
        raise ConfigError(
            f"the starter library's public key {path} cannot be read ({exc}); reinstall llmos, "
            "or switch the starter library off with `[library] starter = false`",
            key="library.starter",
        ) from exc
    return text


def sign_digest(value: str, private_key: bytes) -> str:
    """``ed25519:<hex>`` over a trace digest (the generator's half; CI never signs)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(private_key)
    return SIGNATURE_PREFIX + key.sign(value.encode("ascii")).hex()


def verify_digest(value: str, signature: str, public_hex: str) -> bool:
    """Whether ``signature`` signs ``value`` with the Ed25519 key ``public_hex``."""
    if not signature.startswith(SIGNATURE_PREFIX):
        return False
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
        key.verify(bytes.fromhex(signature.removeprefix(SIGNATURE_PREFIX)), value.encode("ascii"))
    except (InvalidSignature, ValueError):
        return False
    return True


def starter_seal(trace: Trace, private_key: bytes) -> Trace:
    """``trace`` sealed for the starter library (digest, then its Ed25519 signature)."""
    value = digest(trace)
    return replace(trace, integrity=Seal(digest=value, hmac=sign_digest(value, private_key)))


class StarterState:
    """The user's side of the starter library: verification results, counts, outcomes.

    One JSON file, read and rewritten whole under the store's lock (it holds a
    few dozen entries); read again whenever another process has changed it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: dict[str, Any] | None = None
        self._stamp: tuple[int, int] | None = None

    def read(self) -> dict[str, Any]:
        stamp = self._file_stamp()
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError):
            data = {}  # a damaged file is rebuilt: counts restart, verdicts are redone
        if not isinstance(data, dict):
            data = {}
        data.setdefault("verified", {})
        data.setdefault("traces", {})
        self._cache, self._stamp = data, stamp
        return data

    def cached(self) -> dict[str, Any]:
        """The state as last read, unless the file changed since."""
        if self._cache is None or self._file_stamp() != self._stamp:
            return self.read()
        return self._cache

    def write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True), durable=False)
        self._cache, self._stamp = data, self._file_stamp()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size


class StarterSigner:
    """Checks starter seals with the shipped public key; caches each verdict in the state."""

    def __init__(
        self,
        state: StarterState,
        public_key: Path = PUBLIC_KEY_FILE,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self.state = state
        self.public_key = public_key
        #: The store's lock: a verdict is written without losing another process's counts.
        self.lock = lock
        self._public_hex: str | None = None

    def check(self, trace: Trace) -> Trust:
        seal = trace.integrity
        if seal is None:
            return UNSIGNED
        if not hmac.compare_digest(seal.digest, digest(trace)):
            return MODIFIED
        if self._public_hex is None:
            self._public_hex = public_key_hex(self.public_key)
        key = hashlib.sha256(
            f"{self._public_hex}\n{seal.digest}\n{seal.hmac}".encode("ascii", "replace")
        ).hexdigest()
        known = self.state.cached()["verified"].get(key)
        if known is None:
            known = verify_digest(seal.digest, seal.hmac, self._public_hex)
            if not self.state.path.parent.parent.is_dir():
                return TRUSTED_STARTER if known else STARTER_FOREIGN  # a fresh home: keep it so
            with self.lock or nullcontext():
                data = self.state.read()
                data["verified"][key] = known
                self.state.write(data)
        return TRUSTED_STARTER if known else STARTER_FOREIGN

    def seal(self, trace: Trace) -> Trace:
        raise ConfigError(_READ_ONLY.format(id=trace.id), key="library.starter")


TRUSTED_STARTER = Trust(
    state=TRUSTED.state, reason="signed by llmos's starter key; content unchanged"
)


class StarterStore(TraceStore):
    """The shipped traces, read-only, with the user's counts and outcomes laid over them.

    Example:
        >>> store = StarterStore(workspace.memory / "starter")
        >>> store.scope, len(store.entries())   # ('starter', 27)
    """

    scope = STARTER

    def __init__(self, state_dir: Path, root: Path = STARTER_TRACES) -> None:
        self.state = StarterState(state_dir / "state.json")  # made by the first write
        super().__init__(root, state_dir / "index.sqlite", signer=None)
        self.signer = StarterSigner(self.state, lock=self._lock)  # type: ignore[assignment]
        #: Each trace's status as shipped (the signed one), by id, as last read.
        self._shipped_status: dict[str, str] = {}

    # ------------------------------------------------------------ reading

    def _read_checked(self, path: Path) -> Trace:
        trace = super()._read_checked(path)
        self._shipped_status[trace.id] = trace.status
        return self._overlay(trace)

    def load(self, id_or_prefix: str) -> Trace:
        return self._read_checked(self.path_for(self.resolve(id_or_prefix)))

    def _overlay(self, trace: Trace) -> Trace:
        local = self.state.cached()["traces"].get(trace.id)
        if not isinstance(local, dict):
            return trace
        counts = {key: local[key] for key in _COUNTERS if key in local}
        judged: dict[str, Any] = {}
        if "status" in local:
            judged = {
                "status": local["status"],
                "failure": parse_kind(local.get("failure")),
                "verdict": str(local.get("verdict", "")),
            }
        return replace(trace, **counts, **judged)

    def trust_of(self, trace: Trace) -> Trust:
        """Checked as shipped: the user's recorded outcome is not part of what was signed."""
        shipped = self._shipped_status.get(trace.id, "success")
        return self.signer.check(replace(trace, status=shipped))  # type: ignore[arg-type]

    # ------------------------------------------------------------ the user's side

    def record_use(self, trace_id: str, *, success: bool, saved_usd: float = 0.0) -> Trace:
        def count(local: dict[str, Any]) -> None:
            local["use_count"] = int(local.get("use_count", 0)) + 1
            key = "replay_successes" if success else "replay_failures"
            local[key] = int(local.get(key, 0)) + 1
            local["saved_usd"] = float(local.get("saved_usd", 0.0)) + (
                saved_usd if success else 0.0
            )
            local["last_used"] = utc_now()

        return self._change(trace_id, count)

    def set_outcome(self, trace_id: str, outcome: Outcome, *, only_if: str | None = None) -> Trace:
        def judged(local: dict[str, Any]) -> None:
            status = local.get("status", self._shipped_status.get(trace_id, "success"))
            if only_if is not None and status != only_if:
                return
            local["status"] = outcome.status.value
            local["failure"] = outcome.kind.value if outcome.kind else None
            local["verdict"] = outcome.message

        return self._change(trace_id, judged)

    def _change(self, trace_id: str, change: Callable[[dict[str, Any]], None]) -> Trace:
        """Apply one change to the user's record of a starter trace, and re-index its row."""
        with self._lock:
            full_id = self.resolve(trace_id)
            data = self.state.read()
            local = data["traces"].setdefault(full_id, {})
            change(local)
            self.state.write(data)
            path = self.path_for(full_id)
            trace = self._read_checked(path)
            info = path.stat()
            self.index.upsert(
                [entry_for(trace, path.name, mtime_ns=info.st_mtime_ns, size=info.st_size)]
            )
        return trace

    # ------------------------------------------------------------ refused

    def save(self, trace: Trace) -> Trace:
        raise ConfigError(_READ_ONLY.format(id=trace.id), key="library.starter")

    def set_status(self, trace_id: str, status: str) -> Trace:
        raise ConfigError(_READ_ONLY.format(id=trace_id), key="library.starter")

    def trust(self, trace_id: str, *, as_seen: Trace | None = None) -> Trace:
        raise ConfigError(_READ_ONLY.format(id=trace_id), key="library.starter")

    def delete(self, trace_id: str) -> str:
        raise ConfigError(_READ_ONLY.format(id=trace_id), key="library.starter")

    def import_(self, source: Path) -> ImportReport:
        raise ConfigError(_READ_ONLY.format(id="(import)"), key="library.starter")


def is_starter(store: TraceStore) -> bool:
    """Whether ``store`` is the shipped starter library."""
    return isinstance(store, StarterStore)


__all__ = [
    "STARTER",
    "STARTER_TRACES",
    "StarterStore",
    "is_starter",
    "starter_seal",
    "verify_digest",
]
