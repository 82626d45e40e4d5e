"""A successful orchestration as a trace of its own, so the same goal skips planning next time.

Encoding in the existing :class:`~llmos.memory.Trace` (no format change):

- ``mode: orchestrator``; ``goal`` is the orchestration's goal; ``final_answer``
  the synthesised answer; ``cost_usd`` and ``usage`` the whole run's;
- one step per subtask, in plan order, with the pseudo-tool ``Subtask`` and the
  input ``{"id", "description", "agent", "depends_on", "expected_output",
  "trace_id"}`` (``trace_id``: the trace that subtask was learned as or followed
  from); the step's output is the subtask's answer;
- ``extra["orchestration"]``: ``{"version": 1, "agents": [...],
  "planning_cost_usd": ..., "synthesis_cost_usd": ...}``.

Because the subtasks are steps, slot matching works as for any trace: a goal
differing only in a file name or number replays the plan with the new value
substituted into the subtask descriptions. The Follower must never replay
these steps as tools; the orchestrator replays them (:func:`plan_from_steps`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from llmos.memory import Slot, Step, Trace
from llmos.memory.slots import rewriter
from llmos.messages import Usage

if TYPE_CHECKING:  # the plan's models load when a plan is read: a replay only asks is_orchestration
    from llmos.modes.orchestrator.plan import Plan
    from llmos.modes.orchestrator.state import OrchestrationState

MODE: Literal["orchestrator"] = "orchestrator"
SUBTASK_TOOL = "Subtask"
ENCODING_VERSION = 1


def is_orchestration(trace: Trace) -> bool:
    """True for a trace the orchestrator can replay (and the Follower must not)."""
    return (
        trace.mode == MODE
        and bool(trace.steps)
        and all(step.tool == SUBTASK_TOOL for step in trace.steps)
    )


def to_trace(
    state: OrchestrationState,
    *,
    backend: str,
    model: str,
    cost_usd: float,
    usage: Usage,
    duration_s: float,
) -> Trace:
    """The trace of a finished orchestration (every subtask done, answer synthesised)."""
    assert state.plan is not None
    steps = tuple(
        Step(
            tool=SUBTASK_TOOL,
            input={**subtask.to_json(), "trace_id": state.outcomes[subtask.id].trace_id},
            output=state.outcomes[subtask.id].text,
        )
        for subtask in state.plan.subtasks
    )
    return Trace(
        goal=state.goal,
        mode=MODE,
        backend=backend,
        model=model,
        cost_usd=cost_usd,
        usage=usage,
        duration_s=duration_s,
        steps=steps,
        final_answer=state.answer,
        extra={
            "orchestration": {
                "version": ENCODING_VERSION,
                "agents": state.plan.agent_names,
                "planning_cost_usd": state.planning_cost_usd,
                "synthesis_cost_usd": state.synthesis_cost_usd,
            }
        },
    )


def plan_from_steps(steps: Sequence[Step]) -> Plan:
    """The plan a trace recorded (with slot values already substituted in ``steps``)."""
    from llmos.modes.orchestrator.plan import Plan, Subtask

    return Plan(subtasks=tuple(Subtask.from_json(step.input) for step in steps))


def saved_costs(trace: Trace) -> tuple[float, float]:
    """(planning, synthesis) dollars the trace's run spent: what a replay saves."""
    info: Mapping[str, Any] = trace.extra.get("orchestration") or {}
    return float(info.get("planning_cost_usd", 0.0)), float(info.get("synthesis_cost_usd", 0.0))


def replay_answer(trace: Trace, slots: Sequence[Slot], bindings: Mapping[str, str]) -> str:
    """The trace's answer with the new slot values where the old ones stood."""
    rewrite = rewriter(tuple(slots), bindings)
    return rewrite(trace.final_answer) if rewrite else trace.final_answer
