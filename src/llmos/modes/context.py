"""L1 memory: keep the conversation inside the model's context window.

When a request would fill more than :data:`CONTEXT_SHARE` of the window (after
room for the reply), the oldest turns — each an assistant message with its
tool results, so tool calls and results stay paired — are folded into the
first user message: summarised by one LLM call on backends that support it,
or simply dropped with a note (the scripted and local backends). The most
recent turns are always kept whole.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from llmos.backends.base import BackendRequest, request_tokens
from llmos.messages import AssistantMessage, Message, ToolResultMessage, UserMessage

#: Compact when the prompt passes this share of the window left after the reply.
CONTEXT_SHARE = 0.8
#: The most recent turns (assistant message + its tool results) always kept whole.
KEEP_RECENT_TURNS = 2
_TRANSCRIPT_CHARS = 24_000
_RESULT_CHARS = 1_500

SUMMARY_SYSTEM = """\
You compress an agent's work log. Write a short factual summary of what was done:
files created or changed (with names), commands run and their results, errors met,
and what is still left to do. No advice, no preamble."""

#: Condenses a transcript; None when the summary cannot be had (the budget refused it).
Summarizer = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Compaction:
    messages: list[Message]
    folded: int
    summarised: bool


def over_budget(request: BackendRequest, context_window: int) -> bool:
    room = max(context_window - request.max_tokens, 0)
    return request_tokens(request) > CONTEXT_SHARE * room


def _turns(messages: Sequence[Message]) -> list[list[Message]]:
    """The messages after the first, grouped into turns (assistant + its tool results)."""
    turns: list[list[Message]] = []
    for message in messages[1:]:
        if isinstance(message, AssistantMessage) or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


def transcript(messages: Sequence[Message]) -> str:
    """Old turns as plain text for the summariser, bounded in size."""
    lines = []
    for message in messages:
        match message:
            case AssistantMessage(text=text, tool_calls=calls):
                if text:
                    lines.append(f"assistant: {text}")
                lines.extend(
                    f"call {c.name} {json.dumps(dict(c.input), ensure_ascii=False)}" for c in calls
                )
            case ToolResultMessage(tool=tool, content=content, is_error=is_error):
                outcome = "error" if is_error else "result"
                lines.append(f"{outcome} of {tool}: {content[:_RESULT_CHARS]}")
            case UserMessage(content=content):
                lines.append(f"user: {content}")
    return "\n".join(lines)[-_TRANSCRIPT_CHARS:]


async def compact(messages: Sequence[Message], summarize: Summarizer | None) -> Compaction | None:
    """Fold all but the recent turns into the first message; None if nothing can go."""
    turns = _turns(messages)
    if len(turns) <= KEEP_RECENT_TURNS or not isinstance(messages[0], UserMessage):
        return None
    old = [m for turn in turns[:-KEEP_RECENT_TURNS] for m in turn]
    kept = [m for turn in turns[-KEEP_RECENT_TURNS:] for m in turn]
    summary = await summarize(transcript(old)) if summarize is not None else None
    if summary:
        note = f"[Earlier work, summarised to fit the context window]\n{summary.strip()}"
    else:
        note = (
            f"[{len(old)} earlier messages were left out to fit the context window; "
            "what they did is in the working directory: look there rather than redo it]"
        )
    first = UserMessage(content=f"{messages[0].content}\n\n{note}")
    return Compaction(messages=[first, *kept], folded=len(old), summarised=bool(summary))
