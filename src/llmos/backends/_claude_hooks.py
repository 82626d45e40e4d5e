"""llmos's hook pipeline attached to the Claude Code CLI through SDK hook callbacks.

The CLI runs the agent loop and the tools itself; llmos sees each tool call
only through the SDK's hooks. :class:`HookBridge` answers them from the
:class:`~llmos.hooks.pipeline.HookPipeline` of the run in progress:

- ``PreToolUse``: the pipeline decides. A deny reaches the model as the tool's
  error, a rewrite becomes the SDK's ``updatedInput``, and an allow is an allow
  for the CLI too (llmos's hooks are the permission authority, which is why
  ``acceptEdits`` is enough even where ``bypassPermissions`` is refused).
- ``PostToolUse`` / ``PostToolUseFailure``: the tool response becomes a
  :class:`~llmos.tools.base.ToolResult` and goes to the pipeline's
  ``PostToolUse`` hooks — this is how the trace is recorded.
- ``UserPromptSubmit``: context from the pipeline becomes ``additionalContext``.
- ``Stop``: observers are told the final text.

A warm CLI process keeps the callbacks it was started with, so the bridge reads
the run in progress from :attr:`HookBridge.active` rather than capturing one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos.backends._claude_results import result_from_failure, result_from_response
from llmos.events import Event, ToolCallFinished, ToolCallStarted
from llmos.hooks.inputs import HookContext, PostToolUseInput, StopInput, UserPromptSubmitInput
from llmos.hooks.pipeline import HookPipeline
from llmos.tools.base import ToolResult

Publish = Callable[[Event], Awaitable[None]]
HookOutput = dict[str, Any]

#: The in-process MCP server that offers llmos plugin tools; Claude Code names
#: its tools ``mcp__<server>__<tool>``.
PLUGIN_SERVER = "llmos"
PLUGIN_PREFIX = f"mcp__{PLUGIN_SERVER}__"
#: How much of a tool's output goes into a ToolCallFinished event (the trace keeps all).
_EVENT_OUTPUT_CHARS = 2_000
#: Hooks may wait for a person (an ``Ask`` decision), so the CLI must wait long.
_HOOK_TIMEOUT_S = 600.0


def llmos_tool_name(sdk_name: str) -> str:
    """The llmos name of a tool the CLI reports: plugin tools lose their MCP prefix."""
    return sdk_name.removeprefix(PLUGIN_PREFIX)


def _call_of(data: Mapping[str, Any], call_id: str | None) -> tuple[str, Mapping[str, Any], str]:
    """The llmos tool name, the input and the call id of a tool hook's input."""
    tool_input: Mapping[str, Any] = data.get("tool_input") or {}
    return (
        llmos_tool_name(str(data["tool_name"])),
        tool_input,
        call_id or str(data.get("tool_use_id", "")),
    )


class PluginResults:
    """Results of plugin tool calls, kept until their ``PostToolUse`` hook fires.

    The in-process MCP handler knows the whole :class:`ToolResult` (exit code,
    files written) but not the call id, and the hook knows the call but only
    the text the model saw; they meet on the tool name and the exact input.
    """

    def __init__(self) -> None:
        self._results: dict[tuple[str, str], list[ToolResult]] = {}

    @staticmethod
    def _key(tool: str, tool_input: Mapping[str, Any]) -> tuple[str, str]:
        return tool, json.dumps(dict(tool_input), sort_keys=True, default=str)

    def put(self, tool: str, tool_input: Mapping[str, Any], result: ToolResult) -> None:
        self._results.setdefault(self._key(tool, tool_input), []).append(result)

    def pop(self, tool: str, tool_input: Mapping[str, Any]) -> ToolResult | None:
        waiting = self._results.get(self._key(tool, tool_input))
        return waiting.pop(0) if waiting else None


@dataclass(kw_only=True)
class ActiveRun:
    """The run the CLI is working on: where hook callbacks send their questions."""

    task_id: str
    pipeline: HookPipeline
    ctx: HookContext
    publish: Publish
    cwd: Path
    started: dict[str, float] = field(default_factory=dict)


class HookBridge:
    """SDK hook callbacks that forward to the active run's llmos pipeline."""

    def __init__(self, plugin_results: PluginResults) -> None:
        self.active: ActiveRun | None = None
        self.plugin_results = plugin_results

    def matchers(self, hook_matcher: type) -> dict[str, list[Any]]:
        """The ``hooks`` option: one matcher per event, for every tool.

        ``hook_matcher`` is the SDK's ``HookMatcher`` class (the SDK is imported
        lazily by the backend). PreToolUse fails closed: a callback that breaks
        blocks the call instead of letting it through unchecked.
        """

        def one(callback: Callable[..., Awaitable[HookOutput]], **extra: Any) -> list[Any]:
            return [hook_matcher(hooks=[callback], timeout=_HOOK_TIMEOUT_S, **extra)]

        return {
            "PreToolUse": one(self.pre_tool_use, on_failure="block"),
            "PostToolUse": one(self.post_tool_use),
            "PostToolUseFailure": one(self.post_tool_use_failure),
            "UserPromptSubmit": one(self.user_prompt_submit),
            "Stop": one(self.stop),
        }

    async def pre_tool_use(
        self, data: Mapping[str, Any], call_id: str | None, _: Any
    ) -> HookOutput:
        active = self.active
        if active is None:
            return {}
        tool, tool_input, call_id = _call_of(data, call_id)
        await active.publish(
            ToolCallStarted(task_id=active.task_id, call_id=call_id, tool=tool, input=tool_input)
        )
        active.started[call_id] = time.perf_counter()
        verdict = await active.pipeline.pre_tool_use(active.ctx, tool, tool_input)
        decision: HookOutput = {"hookEventName": "PreToolUse"}
        if not verdict.allowed:
            message = verdict.denial_message()
            await self._publish_finished(active, call_id, tool, ToolResult.error(message))
            decision |= {"permissionDecision": "deny", "permissionDecisionReason": message}
            return {"hookSpecificOutput": decision}
        decision |= {"permissionDecision": "allow", "permissionDecisionReason": "llmos hooks"}
        if verdict.input != tool_input:
            decision["updatedInput"] = dict(verdict.input)
        return {"hookSpecificOutput": decision}

    async def post_tool_use(
        self, data: Mapping[str, Any], call_id: str | None, _: Any
    ) -> HookOutput:
        active = self.active
        if active is not None:
            tool, tool_input, call_id = _call_of(data, call_id)
            result = self.plugin_results.pop(tool, tool_input) or result_from_response(
                tool, tool_input, data.get("tool_response"), active.cwd
            )
            await self._finish(active, call_id, tool, tool_input, result)
        return {}

    async def post_tool_use_failure(
        self, data: Mapping[str, Any], call_id: str | None, _: Any
    ) -> HookOutput:
        active = self.active
        if active is not None:
            tool, tool_input, call_id = _call_of(data, call_id)
            result = self.plugin_results.pop(tool, tool_input) or result_from_failure(
                tool, str(data.get("error", ""))
            )
            await self._finish(active, call_id, tool, tool_input, result)
        return {}

    async def user_prompt_submit(
        self, data: Mapping[str, Any], _call_id: str | None, _: Any
    ) -> HookOutput:
        active = self.active
        if active is None:
            return {}
        added = await active.pipeline.collect_context(
            UserPromptSubmitInput(ctx=active.ctx, prompt=str(data.get("prompt", "")))
        )
        if not added:
            return {}
        output = {"hookEventName": "UserPromptSubmit", "additionalContext": "\n\n".join(added)}
        return {"hookSpecificOutput": output}

    async def stop(self, data: Mapping[str, Any], _call_id: str | None, _: Any) -> HookOutput:
        active = self.active
        if active is not None:
            # Claude Code fires Stop only when the model ends its turn by itself.
            text = str(data.get("last_assistant_message") or "")
            await active.pipeline.notify(StopInput(ctx=active.ctx, text=text, success=True))
        return {}

    async def _finish(
        self,
        active: ActiveRun,
        call_id: str,
        tool: str,
        tool_input: Mapping[str, Any],
        result: ToolResult,
    ) -> None:
        await self._publish_finished(active, call_id, tool, result)
        await active.pipeline.notify(
            PostToolUseInput(ctx=active.ctx, tool=tool, tool_input=tool_input, tool_result=result)
        )

    @staticmethod
    async def _publish_finished(
        active: ActiveRun, call_id: str, tool: str, result: ToolResult
    ) -> None:
        started = active.started.pop(call_id, None)
        elapsed_ms = 0.0 if started is None else (time.perf_counter() - started) * 1000
        await active.publish(
            ToolCallFinished(
                task_id=active.task_id,
                call_id=call_id,
                tool=tool,
                is_error=result.is_error,
                output=result.content[:_EVENT_OUTPUT_CHARS],
                exit_code=result.exit_code,
                duration_ms=elapsed_ms,
            )
        )
