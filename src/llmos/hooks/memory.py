"""Memory injection: a ``UserPromptSubmit`` hook that adds relevant memory to the prompt.

Before a Learner run, the facts most relevant to the goal (L4) and the goals
and steps of the nearest successful traces (L3) go into the first prompt as
one clearly delimited block, within a token bound so that memory never costs
more than it can save. The trace the run already follows or is guided by is
left out (the guidance carries it). What was injected is kept per task, for
the trace to record.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from llmos.backends.base import estimate_tokens
from llmos.hooks.inputs import UserPromptSubmitInput
from llmos.hooks.pipeline import AddContext, Hook
from llmos.memory.facts import FactLibrary, FactStore, ScoredFact
from llmos.memory.library import TraceLibrary
from llmos.memory.matching import Matcher, SimilarTrace

HEADER = (
    "Relevant notes from memory (facts and past tasks of this workspace; "
    "use what helps, ignore the rest):"
)
FOOTER = "End of notes from memory."
#: The tasks whose injections are remembered for their trace (oldest are forgotten).
_REMEMBERED_TASKS = 1024
_FACT_CHARS = 400
_STEP_CHARS = 80
_TRACE_STEPS = 6
#: Shorter than this, a cut item says too little to be worth its tokens.
_MIN_ITEM_CHARS = 40


@dataclass(frozen=True, slots=True)
class _Item:
    """One injected line and how the trace records it."""

    line: str
    record: str


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _fact_item(hit: ScoredFact) -> _Item:
    fact = hit.fact
    tags = f" [{', '.join(fact.tags)}]" if fact.tags else ""
    text = _shorten(fact.text, _FACT_CHARS)
    return _Item(f"- {text}{tags}", f"fact {fact.id}: {text}")


def _trace_item(near: SimilarTrace) -> _Item:
    trace = near.trace
    steps = [
        f"{step.tool} {_shorten(json.dumps(dict(step.input), ensure_ascii=False), _STEP_CHARS)}"
        for step in trace.steps[:_TRACE_STEPS]
    ]
    more = f"; … {len(trace.steps) - _TRACE_STEPS} more" if len(trace.steps) > _TRACE_STEPS else ""
    done = f" — steps: {'; '.join(steps)}{more}" if steps else ""
    goal = _shorten(trace.goal, 200)
    return _Item(f'- "{goal}"{done}', f"trace {trace.id}: {goal}")


def _render(facts: Sequence[_Item], traces: Sequence[_Item]) -> str:
    """The block added to the prompt."""
    lines = [HEADER]
    if facts:
        lines += ["Facts:", *(item.line for item in facts)]
    if traces:
        lines += ["Similar tasks done before:", *(item.line for item in traces)]
    return "\n".join([*lines, FOOTER])


def _fit(
    facts: Sequence[_Item], traces: Sequence[_Item], max_tokens: int
) -> tuple[list[_Item], list[_Item]]:
    """The leading facts, then traces, whose block stays within ``max_tokens``.

    The first item that does not fit is cut to the room left (if that leaves
    enough to be useful) and ends the block, so relevance order is kept.
    """
    kept: tuple[list[_Item], list[_Item]] = ([], [])

    def with_line(section: int, line: str) -> str:
        trial = ([*kept[0]], [*kept[1]])
        trial[section].append(_Item(line, ""))
        return _render(*trial)

    for section, items in enumerate((facts, traces)):
        for item in items:
            if estimate_tokens(with_line(section, item.line)) <= max_tokens:
                kept[section].append(item)
                continue
            # estimate_tokens counts about four characters a token
            room = 4 * max_tokens - len(with_line(section, ""))
            cut = _Item(item.line[: room - 1] + "…", item.record)
            if (
                room >= _MIN_ITEM_CHARS
                and estimate_tokens(with_line(section, cut.line)) <= max_tokens
            ):
                kept[section].append(cut)
            return kept
    return kept


class MemoryInjector:
    """The memory-injection hook, and what it injected for each task.

    Example:
        >>> injector = MemoryInjector(FactStore.for_memory(ws.memory), Matcher(store))
        >>> llmos.hooks.register(injector.hook())
        >>> trace = replace(trace, injected=injector.take(task_id))
    """

    def __init__(
        self,
        facts: FactStore | FactLibrary,
        matcher: Matcher | TraceLibrary | None = None,
        *,
        max_tokens: int = 600,
        max_facts: int = 5,
        max_traces: int = 3,
        min_trace_score: float = 0.5,
        follow_threshold: float = 0.9,
        guide_threshold: float = 0.75,
        name: str = "memory",
    ) -> None:
        self.facts = facts
        self.matcher = matcher
        self.max_tokens = max_tokens
        self.max_facts = max_facts
        self.max_traces = max_traces
        self.min_trace_score = min_trace_score
        self.follow_threshold = follow_threshold
        self.guide_threshold = guide_threshold
        self.name = name
        self._injected: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def hook(self) -> Hook[UserPromptSubmitInput]:
        return Hook(name=self.name, event="UserPromptSubmit", fn=self.__call__)

    def injected_for(self, task_id: str) -> tuple[str, ...]:
        """What the last injection for ``task_id`` added, one entry per item.

        Entries read ``"fact <id>: <text>"`` or ``"trace <id>: <goal>"``, in the
        order they appear in the prompt; empty when nothing was injected.
        """
        return self._injected.get(task_id, ())

    def take(self, task_id: str) -> tuple[str, ...]:
        """:meth:`injected_for`, then forget the task (call it when its trace is saved)."""
        return self._injected.pop(task_id, ())

    async def __call__(self, data: UserPromptSubmitInput) -> AddContext | None:
        goal = data.prompt or data.ctx.goal
        facts, traces = await asyncio.to_thread(self._select, goal)
        kept_facts, kept_traces = _fit(facts, traces, self.max_tokens)
        kept = [*kept_facts, *kept_traces]
        self._remember(data.ctx.task_id, tuple(item.record for item in kept))
        return AddContext(_render(kept_facts, kept_traces)) if kept else None

    def _select(self, goal: str) -> tuple[list[_Item], list[_Item]]:
        facts = [_fact_item(hit) for hit in self.facts.search(goal, self.max_facts)]
        return facts, [_trace_item(near) for near in self._near_traces(goal)]

    def _near_traces(self, goal: str) -> list[SimilarTrace]:
        if self.matcher is None or self.max_traces <= 0:
            return []
        followed = self.matcher.match(
            goal, follow_threshold=self.follow_threshold, guide_threshold=self.guide_threshold
        )
        skip = followed.trace.id if followed.trace and followed.decision != "learn" else None
        near = self.matcher.similar(goal, include_failed=False, limit=self.max_traces + 1)
        return [n for n in near if n.trace.id != skip and n.score >= self.min_trace_score][
            : self.max_traces
        ]

    def _remember(self, task_id: str, records: tuple[str, ...]) -> None:
        self._injected[task_id] = records
        self._injected.move_to_end(task_id)
        while len(self._injected) > _REMEMBERED_TASKS:
            self._injected.popitem(last=False)


def memory_hook(
    facts: FactStore | FactLibrary,
    matcher: Matcher | TraceLibrary | None = None,
    *,
    max_tokens: int = 600,
) -> Hook[UserPromptSubmitInput]:
    """The memory-injection hook alone (use :class:`MemoryInjector` to read what it injected)."""
    return MemoryInjector(facts, matcher, max_tokens=max_tokens).hook()
