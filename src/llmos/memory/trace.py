"""The trace: what was asked, what the agent did, and what must hold on replay.

Plain frozen dataclasses; :mod:`llmos.memory.trace_format` turns them into
Markdown files and back. Counters change through :func:`dataclasses.replace`
so a trace is never mutated in place.
"""

from __future__ import annotations

import platform
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, Literal

from llmos.messages import Usage
from llmos.outcome import FailureKind, Outcome

FORMAT_VERSION = 1

#: success: judged to have done the job (replayable); unverified: finished, undecided (guidance
#: only); failed: advice only; untrusted: imported, not verified here yet.
TraceStatus = Literal["success", "unverified", "failed", "untrusted"]
SlotType = Literal["path", "number", "string", "url", "identifier"]
TRACE_STATUSES: tuple[str, ...] = ("success", "unverified", "failed", "untrusted")
SLOT_TYPES: tuple[str, ...] = ("path", "number", "string", "url", "identifier")

#: Tools whose output is a pure function of the workspace: their digest is checked on replay.
DETERMINISTIC_TOOLS: frozenset[str] = frozenset({"Read", "Glob", "Grep", "LS"})


def new_trace_id() -> str:
    """Twelve hex characters: short enough to type, long enough never to collide in practice."""
    return secrets.token_hex(6)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True, kw_only=True)
class Postcondition:
    """What a step's result looked like, checked by the Follower on replay.

    ``files_written`` maps a relative path to the sha256 of what was written;
    an empty digest means "not checked" (a slot changed what the file holds).
    ``output_digest`` is compared only when ``deterministic`` is True.
    """

    is_error: bool = False
    exit_code: int | None = None
    output_digest: str | None = None
    deterministic: bool = False
    files_written: Mapping[str, str] = field(default_factory=dict)
    files_read: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One tool call: the exact input, its postcondition and an excerpt of its output."""

    tool: str
    input: Mapping[str, Any]
    postcondition: Postcondition = field(default_factory=Postcondition)
    output: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Slot:
    """A literal value of the goal that the steps use verbatim (a file name, a number …)."""

    name: str
    type: SlotType
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Seal:
    """A trace's integrity record (:mod:`llmos.memory.integrity` makes and checks it).

    ``digest`` is the SHA-256 of what a replay executes; ``hmac`` signs that
    digest with the installation's key. A trace without one is not trusted.
    """

    digest: str
    hmac: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Trace:
    """One learned (or failed, or imported) run; the Markdown file is its truth."""

    id: str = field(default_factory=new_trace_id)
    goal: str
    signature: str = ""
    slots: tuple[Slot, ...] = ()
    version: int = FORMAT_VERSION
    mode: str = "learner"
    backend: str = ""
    model: str = ""
    created: str = field(default_factory=utc_now)
    status: TraceStatus = "success"
    #: Why the run failed (or was rejected); None for a success or an unverified run.
    failure: FailureKind | None = None
    #: The judge's words: what was checked, why it failed, or why it could not be decided.
    verdict: str = ""
    cost_usd: float = 0.0
    usage: Usage = field(default_factory=Usage)
    duration_s: float = 0.0
    use_count: int = 0
    replay_successes: int = 0
    replay_failures: int = 0
    saved_usd: float = 0.0
    last_used: str | None = None
    parent: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    injected: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    final_answer: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    integrity: Seal | None = None

    @property
    def outcome(self) -> Outcome:
        """The trace's judged outcome (an untrusted import counts as unverified)."""
        if self.status == "success":
            return Outcome.success(self.verdict)
        if self.status == "failed":
            return Outcome.failed(self.failure or FailureKind.ERROR, self.verdict)
        return Outcome.unverified(self.verdict)


def status_of(outcome: Outcome) -> TraceStatus:
    """The trace status an outcome is saved as."""
    return outcome.status.value


def environment_fingerprint() -> dict[str, str]:
    """Where a trace was learned: replay elsewhere may differ (shown by ``verify``)."""
    try:
        llmos_version = metadata.version("llmos")
    except metadata.PackageNotFoundError:
        llmos_version = "unknown"
    return {
        "os": platform.system().lower(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "llmos": llmos_version,
    }
