"""Follower mode: replay a trace's tool calls with no LLM, checking each step.

Every step goes through :func:`run_tool_call`, the same path as a live call,
so hooks (the security policy first) judge a replay exactly as a live run.
After each step its recorded postcondition is checked; the first step that
does not hold is a :class:`Divergence`, and the caller hands over to the
Learner from there, except when a hook denied the step: a replay that asked
for something the policy refuses ends as a failure, never healed into a
success (the trace, not the world, is what is wrong).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llmos.memory.trace import Postcondition, Step
from llmos.messages import ToolCall
from llmos.runtime.task import TaskContext
from llmos.runtime.tool_runner import ToolOutcome, run_tool_call
from llmos.tools.base import ToolResult, sha256_file, sha256_text


@dataclass(frozen=True, slots=True, kw_only=True)
class Divergence:
    """The first step whose result differs from the trace (``index`` is 0-based).

    ``denied``: a hook (the security policy) refused the step; the replay fails.
    """

    index: int
    step: Step
    reason: str
    denied: bool = False
    #: The replayed call, when it ran (its effects are on disk even though it diverged).
    ran: ToolOutcome | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayOutcome:
    done: tuple[ToolOutcome, ...]
    divergence: Divergence | None = None

    @property
    def success(self) -> bool:
        return self.divergence is None


def refusal(task: TaskContext, steps: Sequence[Step]) -> Divergence | None:
    """A reason not to start at all: a tool that is unknown here or not replayable."""
    for index, step in enumerate(steps):
        tool = task.tools.get(step.tool)
        if tool is None:
            return Divergence(index=index, step=step, reason=f"tool {step.tool!r} is not available")
        if not tool.replayable:
            return Divergence(
                index=index,
                step=step,
                reason=f"tool {step.tool!r} ({tool.source}) has effects outside the workspace "
                "and is marked non-replayable",
            )
    return None


async def replay(task: TaskContext, steps: Sequence[Step]) -> ReplayOutcome:
    """Run ``steps`` in order; stop at the first one whose postcondition fails.

    A trace with a step that cannot be replayed here is refused before any step runs.
    """
    refused = refusal(task, steps)
    if refused is not None:
        return ReplayOutcome(done=(), divergence=refused)
    done: list[ToolOutcome] = []
    for index, step in enumerate(steps):
        call = ToolCall(id=f"replay_{index + 1}", name=step.tool, input=dict(step.input))
        outcome = await run_tool_call(task, call, replay=True)
        problem = check(step.postcondition, outcome, task.cwd)
        if problem is not None:
            divergence = Divergence(
                index=index, step=step, reason=problem, denied=outcome.denied, ran=outcome
            )
            return ReplayOutcome(done=tuple(done), divergence=divergence)
        done.append(outcome)
    return ReplayOutcome(done=tuple(done))


def check(expected: Postcondition, outcome: ToolOutcome, cwd: Path) -> str | None:
    """Why a replayed step does not match its recorded postcondition, or None."""
    result = outcome.result
    if outcome.denied:
        return f"refused: {result.content}"
    if result.is_error != expected.is_error:
        if result.is_error:
            return f"it failed on replay but succeeded when learned: {_first_line(result)}"
        return "it succeeded on replay but failed when learned"
    if expected.exit_code is not None and result.exit_code != expected.exit_code:
        return f"exit code {result.exit_code}, learned {expected.exit_code}"
    for path, digest in expected.files_written.items():
        target = cwd / path
        if not target.is_file():
            return f"it did not produce {path}"
        if digest and sha256_file(target) != digest:
            return f"{path} differs from what was learned"
    if (
        expected.deterministic
        and expected.output_digest is not None
        and sha256_text(result.full_output) != expected.output_digest
    ):
        return f"its output differs from what was learned: {_first_line(result)}"
    return None


def _first_line(result: ToolResult) -> str:
    text = result.content.strip()
    return text.splitlines()[0][:200] if text else "(no output)"
