"""The built-in tools, with the names and input schemas of the Claude Code tools."""

from llmos.tools.base import Tool, ToolRegistry
from llmos.tools.bash import BashTool
from llmos.tools.edit import EditTool
from llmos.tools.glob import GlobTool
from llmos.tools.grep import GrepTool
from llmos.tools.ls import LSTool
from llmos.tools.read import ReadTool
from llmos.tools.sandbox import SandboxStatus, sandbox_status
from llmos.tools.webfetch import WebFetchTool
from llmos.tools.write import WriteTool

__all__ = [
    "BashTool",
    "EditTool",
    "GlobTool",
    "GrepTool",
    "LSTool",
    "ReadTool",
    "SandboxStatus",
    "WebFetchTool",
    "WriteTool",
    "builtin_tools",
    "default_registry",
    "sandbox_status",
]


def builtin_tools() -> list[Tool]:
    """A fresh instance of every built-in tool, in the order they are offered."""
    return [
        ReadTool(),
        WriteTool(),
        EditTool(),
        BashTool(),
        GlobTool(),
        GrepTool(),
        LSTool(),
        WebFetchTool(),
    ]


def default_registry() -> ToolRegistry:
    """A registry holding the built-in tools; plugins and MCP servers add to it."""
    return ToolRegistry(builtin_tools())
