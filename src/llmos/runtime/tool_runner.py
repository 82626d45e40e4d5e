"""The one path every tool call takes, live or replayed.

Events out, PreToolUse hooks (which may deny or rewrite), the tool itself,
then PostToolUse hooks. The Learner and the Follower both call
:func:`run_tool_call`, which is why the security policy applies to a replayed
trace exactly as to a live run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmos.events import ToolCallFinished, ToolCallStarted
from llmos.hooks.inputs import PostToolUseInput
from llmos.messages import ToolCall
from llmos.runtime.task import TaskContext
from llmos.tools.base import ToolResult

_EVENT_OUTPUT_CHARS = 2_000


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolOutcome:
    """A finished call: the input actually used (after rewrites) and the result."""

    call: ToolCall
    result: ToolResult
    denied: bool = False


async def run_tool_call(task: TaskContext, call: ToolCall, *, replay: bool = False) -> ToolOutcome:
    """Run one tool call through hooks and the registry; never raises for tool problems."""
    ctx = task.hook_ctx(replay=replay)
    await task.publish(
        ToolCallStarted(
            task_id=task.task_id, call_id=call.id, tool=call.name, input=call.input, replay=replay
        )
    )
    started = time.perf_counter()
    verdict = await task.hooks.pre_tool_use(ctx, call.name, call.input)
    used = call if verdict.input is call.input else _with_input(call, verdict.input)
    if verdict.allowed:
        tool_ctx = task.tool_ctx.for_replay() if replay else task.tool_ctx
        try:
            result = await task.tools.execute(used.name, used.input, tool_ctx)
        except asyncio.CancelledError:
            # Renderers must not show the call as still running.
            await asyncio.shield(
                task.publish(
                    ToolCallFinished(
                        task_id=task.task_id,
                        call_id=call.id,
                        tool=call.name,
                        is_error=True,
                        output="cancelled",
                        duration_ms=(time.perf_counter() - started) * 1000,
                        replay=replay,
                    )
                )
            )
            raise
    else:
        result = ToolResult.error(verdict.denial_message())
    await task.publish(
        ToolCallFinished(
            task_id=task.task_id,
            call_id=call.id,
            tool=call.name,
            is_error=result.is_error,
            output=result.content[:_EVENT_OUTPUT_CHARS],
            exit_code=result.exit_code,
            duration_ms=(time.perf_counter() - started) * 1000,
            replay=replay,
        )
    )
    if verdict.allowed and result.ran:
        await task.hooks.notify(
            PostToolUseInput(ctx=ctx, tool=used.name, tool_input=used.input, tool_result=result)
        )
    return ToolOutcome(call=used, result=result, denied=not verdict.allowed)


def _with_input(call: ToolCall, new_input: Mapping[str, Any]) -> ToolCall:
    return ToolCall(id=call.id, name=call.name, input=dict(new_input))
