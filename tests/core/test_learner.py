"""The agent loop over the scripted backend: turns, tool errors, limits, cancellation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from llmos.backends.base import BackendRequest
from llmos.backends.scripted import FunctionBackend, ScriptedBackend
from llmos.errors import ScriptExhausted
from llmos.events import Event, ToolCallFinished, ToolCallStarted, UsageUpdated
from llmos.hooks.inputs import PostToolUseInput, PreLLMCallInput
from llmos.hooks.pipeline import Deny, Hook, HookPipeline, Rewrite
from llmos.messages import ToolResultMessage, Usage
from llmos.modes.learner import LearnerSettings, run_learner
from llmos.runtime.bus import EventBus
from llmos.runtime.task import TaskContext
from llmos.tools.base import Tool, ToolContext, ToolError, ToolRegistry, ToolResult


class Note(Tool):
    """Appends a line to notes.txt; fails on an empty line."""

    name = "Note"
    description = "Append a line to notes.txt."

    class Input(BaseModel):
        line: str

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        if not args.line:
            raise ToolError("The line is empty.")
        with (ctx.cwd / "notes.txt").open("a", encoding="utf-8") as handle:
            handle.write(args.line + "\n")
        return ToolResult(content=f"noted {args.line!r}")


class Sleep(Tool):
    name = "Sleep"
    description = "Sleep for a while."

    class Input(BaseModel):
        seconds: float

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        await asyncio.sleep(args.seconds)
        return ToolResult(content="slept")


async def price(model: str, usage: Usage) -> float:
    return usage.input_tokens * 1e-6 + usage.output_tokens * 5e-6


def make_task(tmp_path: Path, hooks: HookPipeline | None = None) -> tuple[TaskContext, list[Event]]:
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    task = TaskContext(
        task_id="t-test",
        goal="take notes",
        bus=bus,
        hooks=hooks or HookPipeline(bus),
        tools=ToolRegistry([Note(), Sleep()]),
        tool_ctx=ToolContext(cwd=tmp_path, workspace=tmp_path),
        price=price,
    )
    return task, events


async def test_multi_turn_run_executes_calls_and_feeds_results_back(tmp_path: Path) -> None:
    task, events = make_task(tmp_path)
    backend = ScriptedBackend(
        [
            {"text": "First a note.", "tool_calls": [{"name": "Note", "input": {"line": "one"}}]},
            {
                "tool_calls": [
                    {"name": "Note", "input": {"line": "two"}},
                    {"name": "Note", "input": {"line": "three"}},
                ]
            },
            {"text": "All noted."},
        ]
    )
    outcome = await run_learner(task, backend, LearnerSettings())
    assert outcome.success and outcome.text == "All noted." and outcome.turns == 3
    assert (tmp_path / "notes.txt").read_text() == "one\ntwo\nthree\n"
    second = backend.requests[1].messages
    assert isinstance(second[-1], ToolResultMessage) and second[-1].content == "noted 'one'"
    assert [e.tool for e in events if isinstance(e, ToolCallStarted)] == ["Note"] * 3
    usage_events = [e for e in events if isinstance(e, UsageUpdated)]
    assert len(usage_events) == 3
    assert outcome.usage.input_tokens == sum(e.usage.input_tokens for e in usage_events) > 0
    assert outcome.cost_usd == pytest.approx(usage_events[-1].total_cost_usd)


async def test_tool_errors_are_results_the_model_sees(tmp_path: Path) -> None:
    task, events = make_task(tmp_path)
    backend = ScriptedBackend(
        [
            {
                "tool_calls": [
                    {"name": "Note", "input": {"line": ""}},
                    {"name": "Nope", "input": {}},
                    {"name": "Note", "input": {"line": 5}},
                ]
            },
            {"text": "gave up"},
        ]
    )
    outcome = await run_learner(task, backend, LearnerSettings())
    assert outcome.success
    results = [m for m in backend.requests[1].messages if isinstance(m, ToolResultMessage)]
    assert [r.is_error for r in results] == [True, True, True]
    assert results[0].content == "The line is empty."
    assert "Unknown tool 'Nope'" in results[1].content and "Note" in results[1].content
    assert results[2].content.startswith("Invalid input for Note: line:")
    assert all(e.is_error for e in events if isinstance(e, ToolCallFinished))


async def test_max_turns_ends_the_run_with_a_clear_error(tmp_path: Path) -> None:
    task, _ = make_task(tmp_path)
    loop_turn = {"tool_calls": [{"name": "Note", "input": {"line": "again"}}]}
    outcome = await run_learner(
        task, ScriptedBackend([loop_turn] * 5), LearnerSettings(max_turns=2)
    )
    assert not outcome.success and outcome.turns == 2
    assert outcome.error_type == "MaxTurns"
    assert "learner.max_turns" in (outcome.error or "")


async def test_running_out_of_script_is_a_typed_failure(tmp_path: Path) -> None:
    task, _ = make_task(tmp_path)
    backend = ScriptedBackend([{"tool_calls": [{"name": "Note", "input": {"line": "x"}}]}])
    outcome = await run_learner(task, backend, LearnerSettings())
    assert not outcome.success
    assert outcome.error_type == ScriptExhausted.__name__
    assert "has 1 turn(s)" in (outcome.error or "")


async def test_cancellation_stops_the_loop_inside_a_tool(tmp_path: Path) -> None:
    task, _ = make_task(tmp_path)
    sleeping = asyncio.Event()
    task.bus.subscribe(lambda e: sleeping.set() if isinstance(e, ToolCallStarted) else None)
    backend = ScriptedBackend(
        [{"tool_calls": [{"name": "Sleep", "input": {"seconds": 60}}]}, {"text": "never"}]
    )
    running = asyncio.create_task(run_learner(task, backend, LearnerSettings()))
    await sleeping.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert len(backend.requests) == 1


async def test_pre_tool_use_deny_is_shown_to_the_model_and_the_run_goes_on(tmp_path: Path) -> None:
    hooks = HookPipeline()
    hooks.register(
        Hook(
            name="no-secrets",
            event="PreToolUse",
            matcher="Note",
            fn=lambda d: Deny("no secrets") if "secret" in d.tool_input["line"] else None,
        )
    )
    task, _ = make_task(tmp_path, hooks)
    backend = ScriptedBackend(
        [
            {"tool_calls": [{"name": "Note", "input": {"line": "secret"}}]},
            {"tool_calls": [{"name": "Note", "input": {"line": "public"}}]},
            {"text": "done"},
        ]
    )
    outcome = await run_learner(task, backend, LearnerSettings())
    assert outcome.success
    assert (tmp_path / "notes.txt").read_text() == "public\n"
    denied = backend.requests[1].messages[-1]
    assert isinstance(denied, ToolResultMessage) and denied.is_error
    assert "Denied by the no-secrets hook: no secrets" in denied.content


async def test_pre_tool_use_rewrite_changes_what_runs(tmp_path: Path) -> None:
    hooks = HookPipeline()
    hooks.register(
        Hook(
            name="upper",
            event="PreToolUse",
            fn=lambda d: Rewrite({"line": d.tool_input["line"].upper()}),
        )
    )
    seen: list[PostToolUseInput] = []
    hooks.register(Hook(name="observer", event="PostToolUse", fn=seen.append))
    task, _ = make_task(tmp_path, hooks)
    backend = ScriptedBackend(
        [{"tool_calls": [{"name": "Note", "input": {"line": "hi"}}]}, {"text": "ok"}]
    )
    await run_learner(task, backend, LearnerSettings())
    assert (tmp_path / "notes.txt").read_text() == "HI\n"
    assert seen[0].tool_input == {"line": "HI"} and seen[0].tool_result.content == "noted 'HI'"


async def test_pre_llm_call_deny_stops_before_the_call(tmp_path: Path) -> None:
    hooks = HookPipeline()
    calls: list[int] = []

    def budget(data: PreLLMCallInput):
        calls.append(1)
        return Deny("budget: $0.00 left") if len(calls) > 1 else None

    hooks.register(Hook(name="budget", event="PreLLMCall", fn=budget))
    task, _ = make_task(tmp_path, hooks)
    backend = ScriptedBackend(
        [{"tool_calls": [{"name": "Note", "input": {"line": "a"}}]}, {"text": "never reached"}]
    )
    outcome = await run_learner(task, backend, LearnerSettings())
    assert not outcome.success and len(backend.requests) == 1
    assert outcome.error == "stopped before the next model call: budget: $0.00 left"


async def test_function_backend_sees_each_request(tmp_path: Path) -> None:
    task, _ = make_task(tmp_path)

    def reply(request: BackendRequest) -> dict[str, Any]:
        if len(request.messages) == 1:
            return {
                "tool_calls": [{"name": "Note", "input": {"line": request.messages[0].content}}]
            }
        return {"text": "seen " + str(len(request.messages))}

    outcome = await run_learner(task, FunctionBackend(reply), LearnerSettings())
    assert outcome.text == "seen 3"
    assert (tmp_path / "notes.txt").read_text() == "take notes\n"
    assert outcome.usage == Usage(
        input_tokens=outcome.usage.input_tokens, output_tokens=outcome.usage.output_tokens
    )


async def test_a_model_repeating_the_same_call_is_stopped_as_looping(tmp_path: Path) -> None:
    task, _ = make_task(tmp_path)
    same = {"tool_calls": [{"name": "Note", "input": {"line": "again"}}]}
    other = {"tool_calls": [{"name": "Note", "input": {"line": "other"}}]}
    backend = ScriptedBackend([same, same, other, same, same, same, {"text": "never"}])
    outcome = await run_learner(task, backend, LearnerSettings())
    assert not outcome.success and outcome.error_type == "Looping"
    assert len(backend.requests) == 6  # the third identical turn in a row ends it
    assert (tmp_path / "notes.txt").read_text().count("\n") == 5
