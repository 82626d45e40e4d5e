"""L1 memory: the loop keeps the conversation inside the model's context window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llmos.backends.base import BackendRequest, request_tokens
from llmos.backends.scripted import FunctionBackend, ScriptedBackend
from llmos.events import ContextCompacted, Event
from llmos.hooks.pipeline import HookPipeline
from llmos.messages import AssistantMessage, ToolResultMessage, Usage, UserMessage
from llmos.modes.context import SUMMARY_SYSTEM
from llmos.modes.learner import LearnerSettings, run_learner
from llmos.runtime.bus import EventBus
from llmos.runtime.task import TaskContext
from llmos.tools.base import Tool, ToolContext, ToolRegistry, ToolResult

WINDOW = 6_000  # tokens; each Dump result is about 1,500


class Dump(Tool):
    name = "Dump"
    description = "Print part of a big log."

    class Input(BaseModel):
        part: int

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        return ToolResult(content=f"part {args.part}: " + "x" * 6_000)


async def free(model: str, usage: Usage) -> float:
    return 0.0


def make_task(tmp_path: Path) -> tuple[TaskContext, list[Event]]:
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    task = TaskContext(
        task_id="t-ctx",
        goal="read the whole log",
        bus=bus,
        hooks=HookPipeline(bus),
        tools=ToolRegistry([Dump()]),
        tool_ctx=ToolContext(cwd=tmp_path, workspace=tmp_path),
        price=free,
    )
    return task, events


def dumps(count: int) -> list[dict[str, Any]]:
    return [{"tool_calls": [{"name": "Dump", "input": {"part": n}}]} for n in range(count)]


async def test_old_turns_are_left_out_with_a_note_on_a_scripted_backend(tmp_path: Path):
    task, events = make_task(tmp_path)
    backend = ScriptedBackend([*dumps(8), {"text": "read it all"}])
    backend.context_window = WINDOW
    outcome = await run_learner(task, backend, LearnerSettings(max_tokens=500))
    assert outcome.success and outcome.text == "read it all"
    assert all(request_tokens(r) <= WINDOW for r in backend.requests)
    last = backend.requests[-1].messages
    assert isinstance(last[0], UserMessage) and "earlier messages were left out" in last[0].content
    assert last[0].content.startswith("read the whole log")
    # tool calls and their results stay paired after folding
    assert isinstance(last[1], AssistantMessage) and isinstance(last[2], ToolResultMessage)
    assert last[2].call_id == last[1].tool_calls[0].id
    compacted = [e for e in events if isinstance(e, ContextCompacted)]
    assert compacted and all(
        "to stay within the 6,000-token window" in e.message for e in compacted
    )
    assert all(e.tokens_after < e.tokens_before and not e.summarised for e in compacted)
    assert all(e.context_window == WINDOW and e.folded_messages > 0 for e in compacted)


async def test_old_turns_are_summarised_by_one_call_on_a_real_model(tmp_path: Path):
    task, events = make_task(tmp_path)
    script = iter([*dumps(8), {"text": "read it all"}])

    def reply(request: BackendRequest) -> dict[str, Any]:
        if request.system == SUMMARY_SYSTEM:
            assert "call Dump" in request.messages[0].content
            return {"text": "Parts 0-5 of the log were read; nothing failed."}
        return next(script)

    backend = FunctionBackend(reply)
    backend.summarizes_context = True
    backend.context_window = WINDOW
    outcome = await run_learner(task, backend, LearnerSettings(max_tokens=500))
    assert outcome.success
    summaries = [r for r in backend.requests if r.system == SUMMARY_SYSTEM]
    assert summaries, "no summary call was made"
    first = backend.requests[-1].messages[0]
    assert "Parts 0-5 of the log were read" in first.content
    assert any(e.summarised for e in events if isinstance(e, ContextCompacted))
    assert any(
        "summarised by the model" in e.message for e in events if isinstance(e, ContextCompacted)
    )
    # the summary call is paid for like any other
    assert outcome.usage.input_tokens >= sum(request_tokens(r) for r in summaries)
