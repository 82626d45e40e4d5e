"""Everything that happens in llmos, as typed events on the bus.

The CLI renderer, ``--json`` output, the session log, the HTTP API's
server-sent events and the trace recorder are all subscribers. Events are
frozen dataclasses with a ``kind`` literal; :data:`EventAdapter` serialises
the union the same way everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Discriminator, TypeAdapter

from llmos.messages import Usage
from llmos.outcome import FailureKind


def _now() -> float:
    return time.time()


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStarted:
    task_id: str
    goal: str
    mode: str
    workspace: str
    ts: float = field(default_factory=_now)
    kind: Literal["task-started"] = "task-started"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeChosen:
    task_id: str
    mode: str
    reason: str
    trace_id: str | None = None
    confidence: float | None = None
    backend: str | None = None
    model: str | None = None
    ts: float = field(default_factory=_now)
    kind: Literal["mode-chosen"] = "mode-chosen"


@dataclass(frozen=True, slots=True, kw_only=True)
class TextStreamed:
    task_id: str
    text: str
    ts: float = field(default_factory=_now)
    kind: Literal["text-delta"] = "text-delta"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallStarted:
    task_id: str
    call_id: str
    tool: str
    input: Mapping[str, Any]
    replay: bool = False
    ts: float = field(default_factory=_now)
    kind: Literal["tool-call-started"] = "tool-call-started"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallFinished:
    task_id: str
    call_id: str
    tool: str
    is_error: bool
    output: str
    exit_code: int | None = None
    duration_ms: float = 0.0
    replay: bool = False
    ts: float = field(default_factory=_now)
    kind: Literal["tool-call-finished"] = "tool-call-finished"


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageUpdated:
    task_id: str
    model: str
    usage: Usage
    cost_usd: float
    total_cost_usd: float
    ts: float = field(default_factory=_now)
    kind: Literal["usage-updated"] = "usage-updated"


#: What a hook did to a call, as reported: an ``ask`` is reported with the person's answer;
#: ``error`` is a hook that raised or timed out.
HookVerdict = Literal["allow", "deny", "ask-granted", "ask-denied", "rewrite", "error"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HookDecided:
    task_id: str
    hook: str
    event: str
    decision: HookVerdict
    reason: str = ""
    tool: str | None = None
    ts: float = field(default_factory=_now)
    kind: Literal["hook-decided"] = "hook-decided"


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """Something the user should know that is not an error (a fallback, a heal)."""

    task_id: str
    message: str
    level: Literal["info", "warning"] = "info"
    ts: float = field(default_factory=_now)
    kind: Literal["notice"] = "notice"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFinished:
    """A task ended without failing: judged a ``success``, or ``unverified`` (see ``note``).

    ``success`` is True only for a judged success; ``note`` says what was checked,
    or why the result could not be.
    """

    task_id: str
    mode: str
    success: bool
    text: str
    cost_usd: float
    saved_usd: float
    duration_s: float
    usage: Usage = field(default_factory=Usage)
    trace_id: str | None = None
    status: Literal["success", "unverified"] = "success"
    note: str = ""
    ts: float = field(default_factory=_now)
    kind: Literal["task-finished"] = "task-finished"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailed:
    """A task failed: ``failure`` is the typed kind, ``error`` the reason and what to try."""

    task_id: str
    error: str
    error_type: str
    failure: FailureKind = FailureKind.ERROR
    mode: str | None = None
    cost_usd: float = 0.0
    duration_s: float = 0.0
    trace_id: str | None = None
    #: The goal, when no ``TaskStarted`` named it (a task cancelled while queued).
    goal: str | None = None
    ts: float = field(default_factory=_now)
    kind: Literal["task-failed"] = "task-failed"


Event = Annotated[
    TaskStarted
    | ModeChosen
    | TextStreamed
    | ToolCallStarted
    | ToolCallFinished
    | UsageUpdated
    | HookDecided
    | Notice
    | TaskFinished
    | TaskFailed,
    Discriminator("kind"),
]

EventAdapter: TypeAdapter[Event] = TypeAdapter(Event)


def event_to_json(event: Event) -> str:
    """One line of JSON, the same for ``--json``, SSE and the session log."""
    return EventAdapter.dump_json(event).decode()


def event_from_json(line: str | bytes) -> Event:
    return EventAdapter.validate_json(line)
