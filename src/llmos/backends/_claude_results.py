"""Claude Code tool responses turned into llmos :class:`~llmos.tools.base.ToolResult`s.

The Claude Code CLI runs its own tools and reports each one to the
``PostToolUse`` hook as a tool-specific JSON object (or, when the tool failed,
to ``PostToolUseFailure`` as an error string). The trace needs the facts a
Follower checks on replay — exit code, files written with their digests, files
read — so they are read back here: digests from the files on disk, after the
tool has run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmos.tools.base import ToolResult, sha256_file

#: Tools whose input names a file they write, and the input key that names it.
_WRITING_TOOLS = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}
_EXIT_CODE = re.compile(r"^Exit code (-?\d+)")


def _resolve(cwd: Path, path: str) -> Path:
    candidate = Path(path)
    return (candidate if candidate.is_absolute() else cwd / candidate).resolve()


def recorded_path(cwd: Path, path: str) -> str:
    """A path as traces record it: relative to the working directory when inside it."""
    resolved, root = _resolve(cwd, path), cwd.resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(resolved)


def _digests(cwd: Path, path: str) -> dict[str, str]:
    target = _resolve(cwd, path)
    return {recorded_path(cwd, path): sha256_file(target)} if target.is_file() else {}


def _text_of(response: Any) -> str:
    """The readable text of a response that is not one of the known shapes."""
    if response is None:
        return ""
    if isinstance(response, str):
        return response
    if isinstance(response, list):  # MCP content blocks
        return "\n".join(
            str(block.get("text", "")) for block in response if isinstance(block, Mapping)
        )
    if isinstance(response, Mapping):
        for key in ("content", "output", "result", "message"):
            value = response.get(key)
            if isinstance(value, str):
                return value
        if isinstance(response.get("filenames"), list):
            return "\n".join(str(name) for name in response["filenames"])
    return json.dumps(response, default=str, sort_keys=True)


def _bash_result(response: Mapping[str, Any]) -> ToolResult:
    stdout = str(response.get("stdout") or "")
    stderr = str(response.get("stderr") or "")
    output = "\n".join(part for part in (stdout, stderr) if part)
    if response.get("interrupted"):
        return ToolResult(content=output or "The command was interrupted.", is_error=True)
    return ToolResult(content=output, exit_code=0)


def result_from_response(
    tool: str, tool_input: Mapping[str, Any], response: Any, cwd: Path
) -> ToolResult:
    """Build the result of a tool call that succeeded (the ``PostToolUse`` hook)."""
    if tool == "Bash" and isinstance(response, Mapping):
        return _bash_result(response)
    if tool in _WRITING_TOOLS:
        path = str(tool_input.get(_WRITING_TOOLS[tool], ""))
        written = _digests(cwd, path) if path else {}
        names = ", ".join(written) or path
        return ToolResult(content=f"{tool} wrote {names}", files_written=written)
    if tool == "Read" and isinstance(response, Mapping):
        file_info = response.get("file")
        content = file_info.get("content") if isinstance(file_info, Mapping) else None
        path = str(tool_input.get("file_path", ""))
        read = (recorded_path(cwd, path),) if path else ()
        text = content if isinstance(content, str) else _text_of(response)
        return ToolResult(content=text, files_read=read)
    return ToolResult(content=_text_of(response))


def result_from_failure(tool: str, error: str) -> ToolResult:
    """Build the result of a tool call that failed (the ``PostToolUseFailure`` hook).

    Claude Code reports a failing command as ``Exit code N`` followed by its output.
    """
    exit_code = None
    if tool == "Bash" and (match := _EXIT_CODE.match(error)):
        exit_code = int(match.group(1))
    return ToolResult(content=error, is_error=True, exit_code=exit_code)
