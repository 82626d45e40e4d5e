"""What an orchestration has done so far, saved after every change so it can be resumed.

One JSON file per orchestration, ``<state_dir>/<task_id>.json``, written
atomically (temp file + rename): the goal, the plan, and each subtask's
outcome. ``llmos resume TASK_ID`` reads it back and runs only the subtasks that
did not finish. The texts built from the state live here too: the goal a
subtask runs with (:func:`subtask_goal`) and the report of a run that did not
finish (:func:`partial_report`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from llmos.errors import ConfigError
from llmos.events import ResultMode
from llmos.modes.plan import Plan, Subtask
from llmos.outcome import FailureKind, parse_kind

STATE_VERSION = 1
SubtaskStatus = Literal["pending", "done", "failed", "skipped"]
OrchestrationStatus = Literal["planning", "running", "interrupted", "done", "failed"]
_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


class StateNotFound(ConfigError):
    """There is no saved orchestration with that task id."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubtaskOutcome:
    """How one subtask ended (or that it has not run yet: ``pending``).

    ``failure`` is why it failed, typed (callers branch on it); ``error_type``
    names the error behind it, for people reading the state file.
    """

    id: str
    agent: str
    status: SubtaskStatus = "pending"
    text: str = ""
    task_id: str | None = None
    trace_id: str | None = None
    mode: ResultMode | None = None
    cost_usd: float = 0.0
    attempts: int = 0
    error: str | None = None
    error_type: str | None = None
    failure: FailureKind | None = None

    @property
    def finished(self) -> bool:
        return self.status == "done"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubtaskOutcome:
        return cls(**{**data, "failure": parse_kind(data.get("failure"))})


@dataclass(kw_only=True)
class OrchestrationState:
    """The saved state of one orchestration; :meth:`save` after every change."""

    task_id: str
    goal: str
    status: OrchestrationStatus = "planning"
    plan: Plan | None = None
    source_trace: str | None = None  # the orchestration trace this run replays, if any
    bindings: dict[str, str] = field(default_factory=dict)
    outcomes: dict[str, SubtaskOutcome] = field(default_factory=dict)
    answer: str = ""
    trace_id: str | None = None
    planning_calls: int = 0
    planning_cost_usd: float = 0.0
    synthesis_cost_usd: float = 0.0
    error: str | None = None
    error_type: str | None = None
    failure: FailureKind | None = None

    def set_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.outcomes = {
            s.id: self.outcomes.get(s.id) or SubtaskOutcome(id=s.id, agent=s.agent)
            for s in plan.subtasks
        }

    def record(self, outcome: SubtaskOutcome) -> None:
        self.outcomes[outcome.id] = outcome

    def unfinished(self) -> list[Subtask]:
        """Subtasks to run (again): everything not done, in plan order."""
        assert self.plan is not None
        return [s for s in self.plan.subtasks if not self.outcomes[s.id].finished]

    def reopen(self) -> None:
        """Forget failures and skips (a resume runs them again) and mark the run as running."""
        for subtask_id, outcome in self.outcomes.items():
            if not outcome.finished:
                self.outcomes[subtask_id] = replace(
                    outcome, status="pending", error=None, error_type=None, failure=None
                )
        self.status = "running"
        self.error = self.error_type = self.failure = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "task_id": self.task_id,
            "goal": self.goal,
            "status": self.status,
            "plan": None if self.plan is None else self.plan.to_json(),
            "source_trace": self.source_trace,
            "bindings": self.bindings,
            "outcomes": [asdict(o) for o in self.outcomes.values()],
            "answer": self.answer,
            "trace_id": self.trace_id,
            "planning_calls": self.planning_calls,
            "planning_cost_usd": self.planning_cost_usd,
            "synthesis_cost_usd": self.synthesis_cost_usd,
            "error": self.error,
            "error_type": self.error_type,
            "failure": self.failure,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrchestrationState:
        plan = data.get("plan")
        return cls(
            task_id=data["task_id"],
            goal=data["goal"],
            status=data["status"],
            plan=None
            if plan is None
            else Plan(subtasks=tuple(Subtask.from_json(s) for s in plan["subtasks"])),
            source_trace=data.get("source_trace"),
            bindings=dict(data.get("bindings", {})),
            outcomes={o["id"]: SubtaskOutcome.from_json(o) for o in data.get("outcomes", [])},
            answer=data.get("answer", ""),
            trace_id=data.get("trace_id"),
            planning_calls=data.get("planning_calls", 0),
            planning_cost_usd=data.get("planning_cost_usd", 0.0),
            synthesis_cost_usd=data.get("synthesis_cost_usd", 0.0),
            error=data.get("error"),
            error_type=data.get("error_type"),
            failure=parse_kind(data.get("failure")),
        )


def state_path(state_dir: Path, task_id: str) -> Path:
    if not _TASK_ID.fullmatch(task_id):
        raise ConfigError(f"task id {task_id!r} is not 1-64 letters, digits, '.', '_' or '-'")
    return state_dir / f"{task_id}.json"


def save_state(state_dir: Path, state: OrchestrationState) -> Path:
    """Write the state atomically; a crash leaves the previous version intact."""
    path = state_path(state_dir, state.task_id)
    state_dir.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=state_dir)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(state.to_json(), out, ensure_ascii=False, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def load_state(state_dir: Path, task_id: str) -> OrchestrationState:
    """Read a saved orchestration.

    Raises:
        StateNotFound: no state file for ``task_id`` (the ids there are listed).
        ConfigError: the file is not a state this llmos can read.
    """
    path = state_path(state_dir, task_id)
    if not path.is_file():
        known = sorted(p.stem for p in state_dir.glob("*.json")) if state_dir.is_dir() else []
        hint = f"; saved orchestrations: {', '.join(known[-10:])}" if known else ""
        raise StateNotFound(
            f"no saved orchestration {task_id!r} in {state_dir}{hint}. `llmos resume` takes "
            "the task id an orchestration printed when it started",
            key="task_id",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != STATE_VERSION:
            raise ConfigError(
                f"{path}: state version {data.get('version')!r}, this llmos reads "
                f"{STATE_VERSION}; run the goal again instead of resuming"
            )
        return OrchestrationState.from_json(data)
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a readable orchestration state: {exc}") from exc


def subtask_goal(subtask: Subtask, outcomes: dict[str, SubtaskOutcome]) -> str:
    """The goal a subtask runs with: its description, what to produce, its inputs.

    It depends only on the plan and the dependencies' answers, so the same plan
    with followed dependencies gives the same goal: the subtask is followed too.
    """
    parts = [subtask.description]
    if subtask.expected_output:
        parts.append(f"Expected output: {subtask.expected_output}")
    if subtask.depends_on:
        inputs = "\n\n".join(
            f"### {d} [{outcomes[d].agent}]\n{outcomes[d].text}" for d in subtask.depends_on
        )
        parts.append(f"Results of the subtasks this one depends on:\n\n{inputs}")
    return "\n\n".join(parts)


def partial_report(state: OrchestrationState) -> str:
    """What a failed orchestration did: every subtask with its status, output or reason."""
    if state.plan is None:
        return f"No plan: {state.error}" if state.error else ""
    outcomes = [state.outcomes[s.id] for s in state.plan.subtasks]
    done = sum(o.status == "done" for o in outcomes)
    lines = [f"Partial result: {done} of {len(outcomes)} subtasks done."]
    for outcome in outcomes:
        if outcome.status == "done":
            lines.append(f"\n## {outcome.id} [{outcome.agent}] done\n{outcome.text}")
        elif outcome.status == "failed":
            lines.append(
                f"\n## {outcome.id} [{outcome.agent}] failed after {outcome.attempts} "
                f"attempt(s): {outcome.error}"
            )
        else:
            lines.append(f"\n## {outcome.id} [{outcome.agent}] {outcome.status}: {outcome.error}")
    if state.error and done == len(outcomes):
        lines.append(f"\nThe answer could not be merged: {state.error}")
    return "\n".join(lines)
