"""A tool call in a few words, for every edge that shows one (CLI, log, MCP progress).

It sits below the edges so that none of them imports another to draw a call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SUMMARY_KEYS = ("file_path", "command", "pattern", "path", "url")


def summarize_input(tool: str, tool_input: Mapping[str, Any], width: int = 70) -> str:
    """The one argument that says what a call does, shortened for a line."""
    for key in _SUMMARY_KEYS:
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            text = " ".join(value.split())
            return text if len(text) <= width else text[: width - 1] + "…"
    return ""
