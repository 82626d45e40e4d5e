"""A simulated model for the workload: competent, and honest about what it costs.

It knows each workload task's known-good steps (as a capable model would
work them out) and plays them the way an agent does, one tool call a turn:
read the input files if there are any, one turn per step, then a final
answer. Every turn goes through :class:`FunctionBackend`, which charges the
whole conversation as input tokens and the emitted text and calls as output
tokens, so long guidance costs what it weighs.

It saves turns only on what the prompt really gives it:

- *guided*: the steps listed in the guidance are parsed back; a needed step
  that the guidance holds (same tool, near-identical input) is batched with
  its known neighbours into one turn instead of being worked out alone;
- *healed*: steps the heal note says already ran and held are not run again;
  the step that did not hold is redone (the healed trace keeps only the calls
  that held, so it must hold the redone one).
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.workload_data import WorkloadTask
from llmos.backends.base import BackendRequest
from llmos.backends.scripted import FunctionBackend
from llmos.errors import ConfigError
from llmos.messages import AssistantMessage, UserMessage

_STEP_LINE = re.compile(r"^\d+\. (\w+) (\{.*\})$", re.MULTILINE)
_HELD = "These steps already ran and held:"
_GUIDED = "A similar task was done before"
#: How alike a guidance step's input must be to count as the step the task needs.
SAME_STEP_RATIO = 0.9

Call = Mapping[str, Any]


@dataclass
class SimulatedModel:
    """Answers for the current workload task; set :attr:`task` before each run."""

    latency_s: float = 0.0
    task: WorkloadTask | None = None
    turns: int = 0
    plans: dict[str, int] = field(default_factory=dict)

    def backend(self, model: str) -> FunctionBackend:
        """A backend priced as ``model`` whose turns this simulation plays."""
        return FunctionBackend(self.respond, model=model)

    async def respond(self, request: BackendRequest) -> dict[str, Any]:
        task = self.task
        if task is None:
            raise ConfigError("SimulatedModel.task is not set; set it before each execute()")
        prompt = _first_prompt(request)
        if not prompt.startswith(task.goal):
            raise ConfigError(
                f"the simulated model was asked {prompt[:80]!r} while task "
                f"{task.index} is {task.goal[:80]!r}; runs must not overlap"
            )
        plan = plan_turns(task, prompt)
        turn = sum(isinstance(m, AssistantMessage) for m in request.messages)
        if turn == 0:
            self.plans[plan.kind] = self.plans.get(plan.kind, 0) + 1
        self.turns += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if turn >= len(plan.turns):
            return {"text": final_answer(task)}
        calls = plan.turns[turn]
        first = calls[0]
        what = first["input"].get("file_path") or first["input"].get("command", "")
        note = f"Next I will use {first['tool']} on {str(what)[:60]}."
        if len(calls) > 1:
            note = f"Following the earlier steps, I will run {len(calls)} calls at once."
        return {
            "text": note,
            "tool_calls": [{"name": c["tool"], "input": c["input"]} for c in calls],
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """The tool-call turns the model will take (the final answer comes after them)."""

    kind: str
    turns: tuple[tuple[Call, ...], ...]


def plan_turns(task: WorkloadTask, prompt: str) -> Plan:
    """How the model works the task, given what its first prompt tells it."""
    listed = [(tool, _parse(raw)) for tool, raw in _STEP_LINE.findall(prompt)]
    needed = [dict(step) for step in task.steps]
    if _HELD in prompt:
        held_text = prompt.split(_HELD, 1)[1].split("\nThen step", 1)[0]
        held = [
            (tool, _parse(raw)) for tool, raw in _STEP_LINE.findall(held_text) if tool != "Read"
        ]  # reading the input changed nothing
        done = 0
        while done < min(len(held), len(needed)) and _same(needed[done], held[done]):
            done += 1
        return Plan("healed", tuple((step,) for step in needed[done:]))
    if _GUIDED in prompt:
        known = [any(_same(step, item) for item in listed) for step in needed]
        if any(known):
            return Plan("guided", _batched(needed, known))
    reads = tuple(({"tool": "Read", "input": {"file_path": name}},) for name in task.setup)[:1]
    return Plan("alone", reads + tuple((step,) for step in needed))


def final_answer(task: WorkloadTask) -> str:
    made = ", ".join(task.check) if task.check else "the requested changes"
    return f"Done: {task.goal.rstrip('.')}. Result: {made}."


def _batched(needed: Sequence[Call], known: Sequence[bool]) -> tuple[tuple[Call, ...], ...]:
    """Runs of known steps become one turn each; an unknown step is its own turn."""
    turns: list[list[Call]] = []
    previous_known = False
    for step, is_known in zip(needed, known, strict=True):
        if is_known and previous_known:
            turns[-1].append(step)
        else:
            turns.append([step])
        previous_known = is_known
    return tuple(tuple(turn) for turn in turns)


def _same(step: Call, listed: tuple[str, Any]) -> bool:
    tool, given = listed
    if tool != step["tool"] or given is None:
        return False
    ours = json.dumps(step["input"], sort_keys=True)
    theirs = json.dumps(given, sort_keys=True)
    return ours == theirs or difflib.SequenceMatcher(None, ours, theirs).ratio() >= SAME_STEP_RATIO


def _parse(raw: str) -> Any:
    """A guidance step's input; None when the guidance cut it short (it cannot be reused)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return None


def _first_prompt(request: BackendRequest) -> str:
    for message in request.messages:
        if isinstance(message, UserMessage):
            return message.content
    return ""
