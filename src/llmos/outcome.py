"""What a run came to: one typed outcome shared by every mode, event and edge.

A run is ``success`` only when it was judged to have done the job (see
:mod:`llmos.modes.judge`), ``unverified`` when it finished but the judge could
not decide, and ``failed`` otherwise, with a :class:`FailureKind` that says why
in a form callers branch on (the CLI's hint, the orchestrator's retry rule,
the dashboard's badge) and a message a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from llmos.errors import BackendError, BudgetExceeded, LLMOSError, PolicyDenied


class OutcomeStatus(StrEnum):
    """One meaning each: replayable, guidance only, advice only."""

    SUCCESS = "success"
    UNVERIFIED = "unverified"
    FAILED = "failed"


class FailureKind(StrEnum):
    """Why a run failed (or, for ``unverified``, why it could not be judged)."""

    MAX_TURNS = "max-turns"
    MAX_TOKENS = "max-tokens"
    LOOP = "loop"
    WATCHDOG = "watchdog"
    CANCELLED = "cancelled"
    BACKEND_ERROR = "backend-error"
    STEP_FAILED = "step-failed"
    ACCEPTANCE_FAILED = "acceptance-failed"
    BUDGET = "budget"
    POLICY = "policy"
    #: Follower mode was asked for and no trace matches the goal.
    NO_MATCH = "no-match"
    #: An orchestration's subtask failed (each subtask's own kind is in its outcome).
    SUBTASK_FAILED = "subtask-failed"
    #: A person said the result was wrong (``llmos traces reject``).
    REJECTED = "rejected"
    #: Any other error (a bad plan, a broken trace file …); the message says which.
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """A judged result: its status, why (a failure kind) and a message for people.

    Example:
        >>> Outcome.failed(FailureKind.MAX_TOKENS, "the answer was cut at 4096 tokens").ok
        False
    """

    status: OutcomeStatus
    kind: FailureKind | None = None
    message: str = ""

    @classmethod
    def success(cls, message: str = "") -> Outcome:
        return cls(status=OutcomeStatus.SUCCESS, message=message)

    @classmethod
    def unverified(cls, message: str) -> Outcome:
        return cls(status=OutcomeStatus.UNVERIFIED, message=message)

    @classmethod
    def failed(cls, kind: FailureKind, message: str) -> Outcome:
        return cls(status=OutcomeStatus.FAILED, kind=kind, message=message)

    @classmethod
    def of_error(cls, exc: BaseException) -> Outcome:
        return cls.failed(kind_of_error(exc), str(exc))

    @property
    def ok(self) -> bool:
        """Judged to have done the job (the only outcome that is ever replayed)."""
        return self.status is OutcomeStatus.SUCCESS

    @property
    def is_failed(self) -> bool:
        return self.status is OutcomeStatus.FAILED

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "kind": self.kind.value if self.kind else None,
            "message": self.message,
        }


#: Failures of what a task runs on (the backend, its key, the network, the budget) or a
#: stop someone asked for, rather than of how the task was done. A run that ended so
#: teaches the model nothing about the task: it is kept as a record, never handed to
#: the Learner as advice.
NOT_ADVICE: frozenset[FailureKind] = frozenset(
    {FailureKind.BACKEND_ERROR, FailureKind.BUDGET, FailureKind.CANCELLED}
)


def kind_of_error(exc: BaseException) -> FailureKind:
    """The failure kind of an error that ended a run."""
    if isinstance(exc, BudgetExceeded):
        return FailureKind.BUDGET
    if isinstance(exc, PolicyDenied):
        return FailureKind.POLICY
    if isinstance(exc, BackendError):
        return FailureKind.BACKEND_ERROR
    if isinstance(exc, LLMOSError):
        return FailureKind.ERROR
    return FailureKind.ERROR


def parse_kind(value: str | None) -> FailureKind | None:
    """A failure kind from text (a trace file, a request); None for a missing or unknown one."""
    if not value:
        return None
    try:
        return FailureKind(value)
    except ValueError:
        return None


#: What to try next, per failure kind: the second half of the CLI's one-line reason.
HINTS: dict[FailureKind, str] = {
    FailureKind.MAX_TURNS: "raise learner.max_turns, simplify the goal, or try a stronger "
    "model (--model)",
    FailureKind.MAX_TOKENS: "raise learner.max_tokens (LLMOS_LEARNER__MAX_TOKENS) or ask for "
    "a shorter answer",
    FailureKind.LOOP: "try a stronger model (--provider anthropic, or --model)",
    FailureKind.WATCHDOG: "raise the [watchdog] limits or split the goal into smaller tasks",
    FailureKind.CANCELLED: "run it again",
    FailureKind.BACKEND_ERROR: "check `llmos providers` and the model's settings, then retry",
    FailureKind.STEP_FAILED: "try a stronger model (--model), or --mode learner to learn it afresh",
    FailureKind.ACCEPTANCE_FAILED: "try a stronger model (--model), or --mode learner to "
    "learn it afresh",
    FailureKind.BUDGET: "raise the budget with `llmos budget set N`",
    FailureKind.POLICY: "see `llmos security check CMD`, or change the goal",
    FailureKind.NO_MATCH: "run it with --mode auto or --mode learner to learn it",
    FailureKind.SUBTASK_FAILED: "see `llmos log` for the subtask that failed, then "
    "`llmos resume ID`",
    FailureKind.REJECTED: "run it with --mode learner to learn it afresh",
    FailureKind.ERROR: "run with --debug for details",
}


def hint(kind: FailureKind | None) -> str:
    return HINTS.get(kind, "") if kind else ""
