"""Everything that happens in llmos, as typed events on the bus.

The CLI renderer, ``--json`` output, the session log, the HTTP API's
server-sent events and the trace recorder are all subscribers. Events are
frozen dataclasses with a ``kind`` literal; :func:`event_to_json` and
:func:`event_from_json` serialise them the same way everywhere.

Everything a program may want to follow has its own event (the plan, each
subtask, a replay that diverged, a heal, a compaction, the watchdog, the
queue, the schedule), so no subscriber parses English; :class:`Notice` is
left for free-form warnings. The events a person is told about carry a
``level`` and a ``message`` (:data:`TOLD`): the renderers print that text.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, TypeGuard, get_args

from pydantic import Discriminator, TypeAdapter

from llmos.messages import Usage
from llmos.outcome import FailureKind

#: The mode a task is asked to run in (``--mode``).
RequestedMode = Literal["auto", "learner", "follower", "orchestrator"]
REQUESTED_MODES: tuple[RequestedMode, ...] = get_args(RequestedMode)
#: The mode that really ran a task: a guided or healed run is the Learner with advice.
RunMode = Literal["learner", "guided", "healed", "follower", "orchestrator"]
#: The mode a result names: the one that ran, or the one asked for when it failed first.
TaskMode = Literal["auto", "learner", "guided", "healed", "follower", "orchestrator"]
#: Which trace library a trace came from: the user's (or a project's) own, or the starter
#: library shipped with llmos (read-only, signed).
TraceScope = Literal["own", "starter"]
TASK_MODES: tuple[TaskMode, ...] = get_args(TaskMode)
#: What a hook decided about one call.
HookDecision = Literal["allow", "deny", "ask", "rewrite"]
#: Where a subtask of an orchestration stands (the dashboard draws these).
SubtaskState = Literal["pending", "running", "done", "failed", "skipped"]
Level = Literal["info", "warning"]


def is_task_mode(name: str) -> TypeGuard[TaskMode]:
    """Whether ``name`` (a requested mode, a result's mode) is one a task runs in."""
    return name in TASK_MODES


def _now() -> float:
    return time.time()


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStarted:
    task_id: str
    goal: str
    mode: RequestedMode
    workspace: str
    ts: float = field(default_factory=_now)
    kind: Literal["task-started"] = "task-started"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeChosen:
    task_id: str
    mode: RunMode
    reason: str
    trace_id: str | None = None
    confidence: float | None = None
    backend: str | None = None
    model: str | None = None
    #: The library of the trace followed: ``starter`` (shipped with llmos) or ``own``.
    library: TraceScope | None = None
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
    """Something free-form the user should know that is not an error (a fallback)."""

    task_id: str
    message: str
    level: Level = "info"
    ts: float = field(default_factory=_now)
    kind: Literal["notice"] = "notice"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFinished:
    """A task ended without failing: judged a ``success``, or ``unverified`` (see ``note``).

    ``success`` is True only for a judged success; ``note`` says what was checked,
    or why the result could not be.
    """

    task_id: str
    mode: TaskMode
    success: bool
    text: str
    cost_usd: float
    saved_usd: float
    duration_s: float
    usage: Usage = field(default_factory=Usage)
    trace_id: str | None = None
    status: Literal["success", "unverified"] = "success"
    note: str = ""
    #: ``starter`` when the task was followed from the starter library shipped with llmos.
    library: TraceScope | None = None
    ts: float = field(default_factory=_now)
    kind: Literal["task-finished"] = "task-finished"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailed:
    """A task failed: ``failure`` is the typed kind, ``error`` the reason and what to try."""

    task_id: str
    error: str
    error_type: str
    failure: FailureKind = FailureKind.ERROR
    mode: TaskMode | None = None
    cost_usd: float = 0.0
    duration_s: float = 0.0
    trace_id: str | None = None
    #: The goal, when no ``TaskStarted`` named it (a task cancelled while queued).
    goal: str | None = None
    ts: float = field(default_factory=_now)
    kind: Literal["task-failed"] = "task-failed"


# ---------------------------------------------------------------- orchestration


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedSubtask:
    """One subtask of a plan: who does it, after which others, and where it stands."""

    id: str
    agent: str
    description: str
    depends_on: tuple[str, ...] = ()
    #: ``pending`` for a new plan; a resumed plan names the subtasks already done.
    state: SubtaskState = "pending"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanMade:
    """An orchestration has its plan: made by the model, replayed from a trace, or resumed."""

    task_id: str
    subtasks: tuple[PlannedSubtask, ...]
    #: The orchestration trace whose plan is replayed (no planning call), if any.
    replayed_from: str | None = None
    confidence: float | None = None
    resumed: bool = False
    #: The most subtasks that can run at once (the widest wave of the DAG).
    parallel: int = 1
    ts: float = field(default_factory=_now)
    kind: Literal["plan-made"] = "plan-made"
    level: ClassVar[Level] = "info"

    @property
    def message(self) -> str:
        if self.resumed:
            left = sum(s.state != "done" for s in self.subtasks)
            return f"resuming {self.task_id}: {left} subtask(s) left"
        agents = sorted({s.agent for s in self.subtasks})
        parallel = f" · {self.parallel} in parallel" if self.parallel > 1 else ""
        lines = [f"plan: {len(self.subtasks)} subtasks · agents {', '.join(agents)}{parallel}"]
        if self.replayed_from is not None:
            confidence = f" (confidence {self.confidence:.2f})" if self.confidence else ""
            lines.insert(
                0, f"replaying the plan of trace {self.replayed_from}{confidence}: no planning call"
            )
        for s in self.subtasks:
            after = f" (after {', '.join(s.depends_on)})" if s.depends_on else ""
            lines.append(f"  {s.id} [{s.agent}]{after}: {s.description}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubtaskStarted:
    """A subtask of orchestration ``task_id`` started as task ``subtask_task_id``."""

    task_id: str
    subtask_id: str
    subtask_task_id: str
    agent: str
    attempt: int = 1
    ts: float = field(default_factory=_now)
    kind: Literal["subtask-started"] = "subtask-started"
    level: ClassVar[Level] = "info"

    @property
    def message(self) -> str:
        return f"subtask {self.subtask_id} started [{self.agent}] as {self.subtask_task_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubtaskFinished:
    """A subtask finished (judged a success, or unverified: its text is used either way)."""

    task_id: str
    subtask_id: str
    subtask_task_id: str
    mode: TaskMode | None
    trace_id: str | None
    cost_usd: float
    ts: float = field(default_factory=_now)
    kind: Literal["subtask-finished"] = "subtask-finished"
    level: ClassVar[Level] = "info"

    @property
    def message(self) -> str:
        return (
            f"subtask {self.subtask_id} done [{self.mode}] trace {self.trace_id} "
            f"${self.cost_usd:.4f}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SubtaskFailed:
    """One attempt at a subtask failed; ``retrying`` says whether another follows."""

    task_id: str
    subtask_id: str
    subtask_task_id: str
    error: str
    failure: FailureKind
    attempt: int
    attempts: int
    retrying: bool
    cost_usd: float = 0.0
    ts: float = field(default_factory=_now)
    kind: Literal["subtask-failed"] = "subtask-failed"
    level: ClassVar[Level] = "warning"

    @property
    def message(self) -> str:
        again = "; retrying" if self.retrying else ""
        return (
            f"subtask {self.subtask_id} failed (attempt {self.attempt}/{self.attempts}): "
            f"{self.error}{again}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SubtaskSkipped:
    """A subtask did not run (a subtask it depends on failed, or the budget ran out)."""

    task_id: str
    subtask_id: str
    reason: str
    ts: float = field(default_factory=_now)
    kind: Literal["subtask-skipped"] = "subtask-skipped"
    level: ClassVar[Level] = "warning"

    @property
    def message(self) -> str:
        return f"subtask {self.subtask_id} skipped: {self.reason}"


# ---------------------------------------------------------------- replay and learning


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayDiverged:
    """Step ``step`` (1-based) of trace ``trace_id`` did not hold; the Learner takes over.

    ``expected_*`` is what the trace recorded, ``seen_*`` what the replay got
    (``seen_error`` is None when the step never ran).
    """

    task_id: str
    trace_id: str
    step: int
    tool: str
    reason: str
    expected_error: bool
    seen_error: bool | None
    expected_exit_code: int | None = None
    seen_exit_code: int | None = None
    ts: float = field(default_factory=_now)
    kind: Literal["replay-diverged"] = "replay-diverged"
    level: ClassVar[Level] = "warning"

    @property
    def message(self) -> str:
        return (
            f"replay diverged at step {self.step} ({self.tool}): {self.reason}; "
            "the Learner takes over from there"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Healed:
    """The Learner healed trace ``trace_id``: the run is saved as ``new_trace_id``."""

    task_id: str
    trace_id: str
    new_trace_id: str
    ts: float = field(default_factory=_now)
    kind: Literal["healed"] = "healed"
    level: ClassVar[Level] = "info"

    @property
    def message(self) -> str:
        return f"healed trace {self.trace_id}: saved as {self.new_trace_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextCompacted:
    """Old turns were folded so the next request fits the model's window."""

    task_id: str
    folded_messages: int
    summarised: bool
    tokens_before: int
    tokens_after: int
    context_window: int
    ts: float = field(default_factory=_now)
    kind: Literal["context-compacted"] = "context-compacted"
    level: ClassVar[Level] = "info"

    @property
    def message(self) -> str:
        how = "summarised by the model" if self.summarised else "left out"
        return (
            f"context: {self.folded_messages} earlier messages {how} to stay within the "
            f"{self.context_window:,}-token window ({self.tokens_before:,} → "
            f"{self.tokens_after:,} tokens)"
        )


# ---------------------------------------------------------------- the runtime


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchdogFired:
    """A ``[watchdog]`` limit was reached: the task is cancelled."""

    task_id: str
    #: The setting whose limit was passed, e.g. ``watchdog.task_timeout_s``.
    setting: str
    limit_s: float
    #: What was seen, e.g. ``ran for 30 s``.
    what: str
    ts: float = field(default_factory=_now)
    kind: Literal["watchdog-fired"] = "watchdog-fired"
    level: ClassVar[Level] = "warning"

    @property
    def message(self) -> str:
        return (
            f"watchdog: {self.what} ({self.setting}); task cancelled; raise {self.setting} "
            "in llmos.toml [watchdog] if the task needs longer"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskQueued:
    """The task waits for a free slot; ``position`` is its place in the queue (1 = next)."""

    task_id: str
    position: int
    running: int
    waiting: int
    concurrency: int
    ts: float = field(default_factory=_now)
    kind: Literal["task-queued"] = "task-queued"
    level: ClassVar[Level] = "info"

    @property
    def message(self) -> str:
        return (
            f"queued: {self.running} task(s) running, {self.waiting} waiting "
            f"(scheduler.concurrency = {self.concurrency})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleFired:
    """Schedule ``schedule_id`` fell due and started task ``task_id`` for ``goal``."""

    task_id: str
    schedule_id: str
    cron: str
    goal: str
    ts: float = field(default_factory=_now)
    kind: Literal["schedule-fired"] = "schedule-fired"
    level: ClassVar[Level] = "info"

    @property
    def message(self) -> str:
        return f"schedule {self.schedule_id} ({self.cron}) is due: {self.goal}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleSkipped:
    """Schedule ``schedule_id`` fell due while its last run ``task_id`` was still going."""

    task_id: str
    schedule_id: str
    cron: str
    ts: float = field(default_factory=_now)
    kind: Literal["schedule-skipped"] = "schedule-skipped"
    level: ClassVar[Level] = "warning"

    @property
    def message(self) -> str:
        return (
            f"schedule {self.schedule_id} ({self.cron}) is due again while its last run "
            f"{self.task_id} is still going; this run is skipped"
        )


Event = Annotated[
    TaskStarted
    | ModeChosen
    | TextStreamed
    | ToolCallStarted
    | ToolCallFinished
    | UsageUpdated
    | HookDecided
    | Notice
    | PlanMade
    | SubtaskStarted
    | SubtaskFinished
    | SubtaskFailed
    | SubtaskSkipped
    | ReplayDiverged
    | Healed
    | ContextCompacted
    | WatchdogFired
    | TaskQueued
    | ScheduleFired
    | ScheduleSkipped
    | TaskFinished
    | TaskFailed,
    Discriminator("kind"),
]

#: The events that tell a person something in a line or more: each has ``level`` and
#: ``message``. A renderer prints ``message``; a program reads the fields instead.
Told = (
    Notice
    | PlanMade
    | SubtaskStarted
    | SubtaskFinished
    | SubtaskFailed
    | SubtaskSkipped
    | ReplayDiverged
    | Healed
    | ContextCompacted
    | WatchdogFired
    | TaskQueued
    | ScheduleFired
    | ScheduleSkipped
)
TOLD: tuple[type[Told], ...] = (
    Notice,
    PlanMade,
    SubtaskStarted,
    SubtaskFinished,
    SubtaskFailed,
    SubtaskSkipped,
    ReplayDiverged,
    Healed,
    ContextCompacted,
    WatchdogFired,
    TaskQueued,
    ScheduleFired,
    ScheduleSkipped,
)


@functools.cache
def event_adapter() -> TypeAdapter[Event]:
    """The adapter of the whole union, built on first use (~80 ms: not at import)."""
    return TypeAdapter(Event)


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def event_to_json(event: Event) -> str:
    """One line of JSON, the same for ``--json``, SSE and the session log.

    Each event type's own adapter writes it (the union's would give the same
    text): a run builds only the few it emits.
    """
    kind = type(event)
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter.dump_json(event).decode()


def event_from_json(line: str | bytes) -> Event:
    return event_adapter().validate_json(line)
