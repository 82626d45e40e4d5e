"""From a tool call that just ran to a trace step with its postcondition.

The recorder decides what a replay must reproduce: the error flag and exit
code always; the digest of the whole output only for tools whose output is a
function of the workspace (Read, Glob, Grep, LS), since a Bash command may
print the time or a random number and still have done the same job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from llmos.memory.trace import DETERMINISTIC_TOOLS, Postcondition, Step
from llmos.tools.base import ToolResult

#: Characters of output kept in the trace for people and for guidance.
EXCERPT_CHARS = 2_000


def output_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def recorded_step(tool: str, tool_input: Mapping[str, Any], result: ToolResult, *,
                  excerpt_chars: int = EXCERPT_CHARS) -> Step:
    """The trace step of one finished call: exact input, postcondition, output excerpt."""
    output = result.full_output
    excerpt = output if len(output) <= excerpt_chars else (
        output[:excerpt_chars] + f"\n… ({len(output) - excerpt_chars} more characters)")
    return Step(
        tool=tool,
        input=dict(tool_input),
        postcondition=Postcondition(
            is_error=result.is_error,
            exit_code=result.exit_code,
            output_digest=output_digest(output),
            deterministic=tool in DETERMINISTIC_TOOLS,
            files_written=dict(result.files_written),
            files_read=tuple(result.files_read),
        ),
        output=excerpt,
    )
