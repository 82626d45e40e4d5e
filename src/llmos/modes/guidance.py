"""What the Learner is told about past runs: a near trace, a failed attempt, a heal point.

Bounded in size so that guidance never costs more than it saves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from llmos.memory.trace import Step, Trace
from llmos.modes.follower import Divergence

_INPUT_CHARS = 1_200
_GUIDANCE_CHARS = 8_000


def _step_line(number: int, tool: str, tool_input: object) -> str:
    text = json.dumps(tool_input, ensure_ascii=False)
    if len(text) > _INPUT_CHARS:
        text = text[:_INPUT_CHARS] + f"… ({len(text) - _INPUT_CHARS} more characters)"
    return f"{number}. {tool} {text}"


def _bounded(text: str) -> str:
    if len(text) <= _GUIDANCE_CHARS:
        return text
    return text[:_GUIDANCE_CHARS] + "\n… (guidance cut to stay short)"


def near_trace(trace: Trace, steps: Sequence[Step]) -> str:
    """Guided mode: a similar task's steps, to adapt rather than rediscover."""
    lines = [
        f'A similar task was done before: "{trace.goal}". Its steps were:',
        *(_step_line(i, s.tool, dict(s.input)) for i, s in enumerate(steps, start=1)),
        "Reuse what fits this task and change what it needs; do not copy blindly.",
    ]
    return _bounded("\n".join(lines))


def failed_attempt(trace: Trace) -> str:
    """A failed run of a similar goal, so the Learner does not repeat the mistake."""
    why = trace.verdict or str(trace.extra.get("error") or "it did not finish")
    lines = [f'An earlier attempt at a similar goal ("{trace.goal}") failed: {why}.']
    if trace.steps:
        lines.append("It tried:")
        lines.extend(_step_line(i, s.tool, dict(s.input)) for i, s in enumerate(trace.steps, 1))
    lines.append("Avoid what made it fail.")
    return _bounded("\n".join(lines))


def heal(trace: Trace, done: Sequence[Step], divergence: Divergence) -> str:
    """After a divergence: what already ran, where replay stopped and why."""
    lines = [f'This task was being replayed from a saved trace of "{trace.goal}".']
    if done:
        lines.append("These steps already ran and held:")
        lines.extend(_step_line(i, s.tool, dict(s.input)) for i, s in enumerate(done, 1))
    lines.append(
        f"Then step {divergence.index + 1} did not hold: "
        f"{_step_line(divergence.index + 1, divergence.step.tool, dict(divergence.step.input))}"
        f"\nReason: {divergence.reason}."
    )
    lines.append("Continue from here and finish the task; do not redo steps that held.")
    return _bounded("\n".join(lines))


def piped_input(text: str, limit: int) -> str:
    """Input piped beside the goal (``cat data.csv | llmos run "…"``), cut at ``limit`` characters.

    It reaches the Learner only through its prompt: no file holds it, so no
    trace can replay it.
    """
    cut = f"\n… ({len(text) - limit} more characters not shown)" if len(text) > limit else ""
    return (
        "The user piped this input to the command, as context for the goal:\n"
        f"<input>\n{text[:limit]}{cut}\n</input>"
    )
