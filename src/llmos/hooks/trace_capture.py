"""Trace capture: a PostToolUse hook that records a task's tool calls in order.

Because it is a hook, it records the same way whether llmos runs the loop or
the Claude Agent SDK does (there the SDK's PostToolUse is mapped onto it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmos.hooks.inputs import PostToolUseInput
from llmos.hooks.pipeline import Hook
from llmos.memory.portable import portable_input
from llmos.memory.trace import (
    DETERMINISTIC_TOOLS,
    Postcondition,
    Step,
    Trace,
    environment_fingerprint,
    status_of,
)
from llmos.messages import Usage
from llmos.outcome import Outcome
from llmos.tools.base import ToolResult, sha256_text

#: Output kept in a trace step for people and for guidance; the digest covers all of it.
STEP_OUTPUT_CHARS = 4_000


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedCall:
    tool: str
    input: Mapping[str, Any]
    result: ToolResult

    def to_step(self) -> Step:
        """The trace step: exact input plus what a replay must reproduce."""
        output = self.result.full_output
        return Step(
            tool=self.tool,
            input=dict(self.input),
            postcondition=Postcondition(
                is_error=self.result.is_error,
                exit_code=self.result.exit_code,
                output_digest=sha256_text(output),
                deterministic=self.tool in DETERMINISTIC_TOOLS,
                files_written=dict(self.result.files_written),
                files_read=tuple(self.result.files_read),
            ),
            output=output[:STEP_OUTPUT_CHARS],
        )


@dataclass
class TraceRecorder:
    """Collects the calls of one task (others sharing the pipeline are ignored)."""

    task_id: str
    calls: list[RecordedCall] = field(default_factory=list)

    async def _record(self, data: PostToolUseInput) -> None:
        # async: it runs on the event loop, in call order, with no thread to hop to
        if data.ctx.task_id != self.task_id:
            return
        kept = portable_input(data.tool_input, data.ctx.cwd)  # replayable in another folder
        self.calls.append(RecordedCall(tool=data.tool, input=kept, result=data.tool_result))

    def hook(self) -> Hook[PostToolUseInput]:
        return Hook(name="trace-capture", event="PostToolUse", fn=self._record)

    def to_trace(
        self,
        *,
        goal: str,
        final_answer: str,
        outcome: Outcome,
        mode: str,
        backend: str,
        model: str,
        cost_usd: float,
        usage: Usage,
        duration_s: float,
        parent: str | None = None,
        upto: int | None = None,
    ) -> Trace:
        """The run as a trace; ``upto`` keeps only the first calls (a heal drops the bad one)."""
        calls = self.calls if upto is None else self.calls[:upto]
        return Trace(
            goal=goal,
            mode=mode,
            backend=backend,
            model=model,
            status=status_of(outcome),
            failure=outcome.kind,
            verdict=outcome.message,
            cost_usd=cost_usd,
            usage=usage,
            duration_s=round(duration_s, 3),
            parent=parent,
            environment=environment_fingerprint(),
            steps=tuple(call.to_step() for call in calls),
            final_answer=final_answer,
        )
