"""Insights: after a Learner run, one cheap LLM call keeps what is worth reusing as facts.

The model is shown the run (goal, steps, outcome) and asked for at most three
short, reusable lessons as JSON lines. Whatever it answers is parsed leniently
(code fences, bullets, a JSON array, bare strings) and only plausible, new
lessons are stored, as facts with source ``insight`` and the run as origin.
It is off by default where a call costs more than it is worth: the embedded
local model (slow, weak at this) and the test backends (their scripts).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from llmos.backends.base import Backend, BackendRequest, TextDelta, TurnFinished
from llmos.errors import BudgetExceeded
from llmos.hooks.pipeline import Allow, Deny
from llmos.memory.facts import Fact, FactLibrary, FactOrigin, FactStore
from llmos.memory.trace import Trace
from llmos.messages import Usage, UserMessage

#: The run's ``PreLLMCall`` check, asked before the model call is made.
CallCheck = Callable[[BackendRequest], Awaitable[Allow | Deny]]

MAX_INSIGHTS = 3
MAX_TOKENS = 300
_MIN_CHARS = 12
_MAX_CHARS = 300
_MAX_TAGS = 5
_STEP_CHARS = 160
_RUN_CHARS = 6_000
#: Backends that do not extract insights unless asked to (``insights_enabled``).
OFF_BY_DEFAULT: frozenset[str] = frozenset({"local", "scripted", "function"})

INSIGHT_SYSTEM = f"""\
You review one finished run of an AI agent and keep what is worth remembering.
Reply with at most {MAX_INSIGHTS} lines and nothing else. Each line is one JSON object:
{{"insight": "<one sentence, under 200 characters>", "tags": ["<word>", ...]}}
An insight is a reusable lesson about this workspace or its tools that would help with
other, different tasks: a convention, a command that works, a pitfall and how to avoid it.
Do not restate the task or its result. If nothing is worth keeping, reply with nothing."""

_FENCE = re.compile(r"^```[\w-]*\s*$")
_BULLET = re.compile(r"^(?:[-*•]|\d+[.)])\s+")


@dataclass(frozen=True, slots=True, kw_only=True)
class InsightOutcome:
    """What one extraction stored and what it cost (the caller charges ``usage``)."""

    facts: tuple[Fact, ...]
    usage: Usage
    model: str
    rejected: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Candidate:
    text: str
    tags: tuple[str, ...]


def insights_enabled(backend_name: str, setting: bool | None = None) -> bool:
    """Whether to extract insights: the setting if given, else on except for local/test backends."""
    return setting if setting is not None else backend_name not in OFF_BY_DEFAULT


def describe_run(trace: Trace) -> str:
    """The run as the model sees it: goal, outcome, steps and answer, bounded in size."""
    lines = [f"Goal: {trace.goal}", f"Outcome: {trace.status}"]
    error = (
        trace.extra.get("error")
        if trace.status == "success"
        else (trace.verdict or trace.extra.get("error"))
    )
    if error:
        lines.append(f"Error: {error}")
    elif trace.verdict:
        lines.append(f"Judged: {trace.verdict}")
    for number, step in enumerate(trace.steps, start=1):
        shown = json.dumps(dict(step.input), ensure_ascii=False)[:_STEP_CHARS]
        result = "error" if step.postcondition.is_error else "ok"
        if step.postcondition.exit_code is not None:
            result += f", exit {step.postcondition.exit_code}"
        first = step.output.strip().splitlines()[0][:_STEP_CHARS] if step.output.strip() else ""
        lines.append(f"{number}. {step.tool} {shown} -> {result}{': ' + first if first else ''}")
    if trace.final_answer:
        lines.append(f"Final answer: {trace.final_answer}")
    text = "\n".join(lines)
    return text if len(text) <= _RUN_CHARS else text[:_RUN_CHARS] + "\n… (run cut short)"


def parse_insights(reply: str) -> tuple[list[_Candidate], list[str]]:
    """Candidates from a model's reply, and the lines that could not be read as one.

    Accepted: JSON lines (objects with ``insight`` or ``text``, or strings), one JSON
    array, code fences around either, and bulleted plain text. Other prose is rejected.
    """
    values, rejected = _values(reply)
    candidates: list[_Candidate] = []
    for value in values:
        candidate = _candidate(value)
        if candidate is None:
            rejected.append(value if isinstance(value, str) else json.dumps(value))
        else:
            candidates.append(candidate)
    return candidates, rejected


def _values(reply: str) -> tuple[list[object], list[str]]:
    body = "\n".join(line for line in reply.strip().splitlines() if not _FENCE.match(line.strip()))
    try:
        whole = json.loads(body)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, list):
        return whole, []
    if isinstance(whole, dict | str):
        return [whole], []
    values: list[object] = []
    rejected: list[str] = []
    for raw in body.splitlines():
        stripped = raw.strip()
        line = _BULLET.sub("", stripped).strip().rstrip(",")
        if not line:
            continue
        if line[0] in '{["':
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                rejected.append(stripped)
                continue
            values.extend(value if isinstance(value, list) else [value])
        elif _BULLET.match(stripped):
            values.append(line)  # a bullet of plain text: the model ignored the format only
        else:
            rejected.append(stripped)
    return values, rejected


def _candidate(item: object) -> _Candidate | None:
    text: object = item
    tags: object = []
    if isinstance(item, dict):
        text = item.get("insight", item.get("text"))
        tags = item.get("tags", [])
    if not isinstance(text, str):
        return None
    text = " ".join(text.split())
    if not (_MIN_CHARS <= len(text) <= _MAX_CHARS) or text.endswith(":"):
        return None
    clean_tags = (
        tuple(str(tag).strip() for tag in tags if str(tag).strip())
        if isinstance(tags, list)
        else ()
    )
    return _Candidate(text, clean_tags[:_MAX_TAGS])


def _known(facts: FactStore | FactLibrary, text: str) -> bool:
    folded = text.casefold()
    return any(hit.fact.text.casefold() == folded for hit in facts.search(text, limit=10))


async def extract_insights(
    backend: Backend,
    facts: FactStore | FactLibrary,
    trace: Trace,
    *,
    task_id: str | None = None,
    max_tokens: int = MAX_TOKENS,
    may_call: CallCheck | None = None,
) -> InsightOutcome:
    """Ask ``backend`` once for up to three insights about ``trace`` and store the new ones.

    ``may_call`` is the run's ``PreLLMCall`` check (the budget among others): this
    call passes it like every other model call, and is not made when it says no.

    Raises:
        BackendError: the call failed; nothing was stored (the run itself is unaffected).
        BudgetExceeded: ``may_call`` refused the call (with the refusal's figures).

    Example:
        >>> if insights_enabled(backend.name, settings_value):
        ...     outcome = await extract_insights(backend, facts, saved_trace, task_id=task_id)
        ...     await task.price(outcome.model, outcome.usage)
    """
    request = BackendRequest(
        system=INSIGHT_SYSTEM,
        messages=(UserMessage(content=describe_run(trace)),),
        max_tokens=max_tokens,
    )
    if may_call is not None:
        verdict = await may_call(request)
        if isinstance(verdict, Deny):
            if isinstance(verdict.error, BudgetExceeded):
                raise verdict.error
            raise BudgetExceeded(verdict.reason, needed_usd=0.0, left_usd=0.0)
        request = verdict.applied_to(request)
    chunks: list[str] = []
    usage, model = Usage(), backend.model
    async for event in backend.stream(request):
        match event:
            case TextDelta(text=text):
                chunks.append(text)
            case TurnFinished(usage=used, model=name):
                usage, model = used, name
    candidates, rejected = parse_insights("".join(chunks))
    stored = await asyncio.to_thread(
        _store, facts, candidates, FactOrigin(task_id=task_id, trace_id=trace.id)
    )
    return InsightOutcome(facts=stored, usage=usage, model=model, rejected=tuple(rejected))


def _store(
    facts: FactStore | FactLibrary, candidates: list[_Candidate], origin: FactOrigin
) -> tuple[Fact, ...]:
    """Add the first new candidates (not already known, not repeated) as insight facts."""
    stored: list[Fact] = []
    seen: set[str] = set()
    for candidate in candidates[:MAX_INSIGHTS]:
        folded = candidate.text.casefold()
        if folded in seen or _known(facts, candidate.text):
            continue
        seen.add(folded)
        stored.append(
            facts.add(candidate.text, source="insight", tags=candidate.tags, origin=origin)
        )
    return tuple(stored)
