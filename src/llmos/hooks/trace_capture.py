"""Trace capture: a PostToolUse hook that records a task's tool calls in order.

Because it is a hook, it records the same way whether llmos runs the loop or
the Claude Agent SDK does (there the SDK's PostToolUse is mapped onto it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmos.hooks.pipeline import Hook, HookInput
from llmos.tools.base import ToolResult


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedCall:
    tool: str
    input: Mapping[str, Any]
    result: ToolResult


@dataclass
class TraceRecorder:
    """Collects the calls of one task (others sharing the pipeline are ignored)."""

    task_id: str
    calls: list[RecordedCall] = field(default_factory=list)

    def _record(self, data: HookInput) -> None:
        if data.ctx.task_id != self.task_id or data.tool is None:
            return
        result = data.tool_result
        if not isinstance(result, ToolResult):
            result = ToolResult(content=str(result))
        self.calls.append(
            RecordedCall(tool=data.tool, input=dict(data.tool_input or {}), result=result)
        )

    def hook(self) -> Hook:
        return Hook(name="trace-capture", event="PostToolUse", fn=self._record)
