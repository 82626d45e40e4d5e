"""The HTTP API's request and response bodies (they are also its OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from llmos.config import MAX_USD
from llmos.events import RequestedMode, TaskMode
from llmos.outcome import FailureKind, OutcomeStatus
from llmos.projects import NAME_PATTERN
from llmos.runtime.scheduler import TaskStatus
from llmos.server.tasks import TaskRecord
from llmos.text import unicode_problem


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError('the goal is empty; say what to do, e.g. "Create hello.txt"')
    problem = unicode_problem(value, "the goal")
    if problem is not None:  # no log, store or JSON answer could hold it
        raise ValueError(problem)
    return value.strip()


def _not_blank_reason(value: str) -> str:
    if not value.strip():
        raise ValueError("say why the result was wrong")
    return value.strip()


Goal = Annotated[
    str,
    AfterValidator(_not_blank),
    Field(description="What to do, in plain words.", examples=["Create hello.txt"]),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskRequest(_Body):
    """A task to run: what to do, how, where, and the most it may spend."""

    goal: Goal
    mode: RequestedMode | None = Field(None, description="auto (default), learner or follower.")
    project: str | None = Field(
        None, description="Run in this project's output folder (workspace/projects/NAME/output)."
    )
    budget: float | None = Field(
        None,
        gt=0,
        le=MAX_USD,
        allow_inf_nan=False,
        description="Dollars this task may spend on model calls at most.",
    )

    @field_validator("project")
    @classmethod
    def _project_name(cls, value: str | None) -> str | None:
        if value is not None and (not NAME_PATTERN.fullmatch(value) or value in (".", "..")):
            raise ValueError(
                f"project name {value!r} must be 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return value


class MatchRequest(_Body):
    goal: Goal


class RejectRequest(_Body):
    """Why a trace's result was wrong (kept in the trace as its failure message)."""

    reason: Annotated[str, AfterValidator(_not_blank_reason), Field(min_length=1)]


class TaskAccepted(BaseModel):
    task_id: str
    status: TaskStatus


class TaskView(BaseModel):
    """A task's state; ``mode`` is the mode that ran it (follower, learner, guided …)."""

    task_id: str
    goal: str
    status: TaskStatus
    requested_mode: RequestedMode | None
    project: str | None
    budget_usd: float | None
    mode: TaskMode | None
    trace_id: str | None
    confidence: float | None
    outcome: OutcomeStatus | None = Field(
        description="success (judged done), unverified (finished, not checkable) or failed; "
        "null while it runs"
    )
    failure_kind: FailureKind | None = Field(description="why it failed; null unless failed")
    success: bool | None
    text: str | None
    error: str | None
    error_type: str | None
    cost_usd: float
    saved_usd: float
    duration_s: float | None
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    events: int

    @classmethod
    def of(cls, record: TaskRecord) -> TaskView:
        result = record.result
        handle = record.handle
        return cls(
            task_id=record.task_id,
            goal=record.goal,
            status=record.status,
            requested_mode=record.requested_mode,
            project=record.project,
            budget_usd=record.budget_usd,
            mode=record.mode or (result.mode if result else None),
            trace_id=(result.trace_id if result else None) or record.trace_id,
            confidence=record.confidence,
            outcome=result.outcome.status
            if result
            else (OutcomeStatus.FAILED if record.crash else None),
            failure_kind=result.outcome.kind
            if result
            else (FailureKind.ERROR if record.crash else None),
            success=result.success if result else (False if record.crash else None),
            text=result.text if result else None,
            error=result.error if result else record.crash,
            error_type=result.error_type if result else None,
            # a cancelled run's result comes from the scheduler, which never saw the bill
            cost_usd=max(result.cost_usd if result else 0.0, record.cost_usd),
            saved_usd=result.saved_usd if result else 0.0,
            duration_s=result.duration_s if result else None,
            submitted_at=record.submitted_at,
            started_at=handle.started_at if handle else None,
            finished_at=handle.finished_at if handle else None,
            events=len(record.log.events),
        )


class CancelView(BaseModel):
    task_id: str
    cancelled: bool
    status: TaskStatus


class TraceDetail(BaseModel):
    """One trace: its front matter as data, the file as Markdown, its body as HTML."""

    id: str
    meta: dict[str, Any]
    markdown: str
    html: str


class AgentView(BaseModel):
    name: str
    description: str
    tools: list[str] | None
    model: str
    max_turns: int | None
    source: str
    path: str | None


class AgentProblemView(BaseModel):
    path: str
    message: str


class AgentsView(BaseModel):
    agents: list[AgentView]
    problems: list[AgentProblemView]
