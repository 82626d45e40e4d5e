"""The built-in tools, with the names and input schemas of the Claude Code tools.

Each tool's module is imported when the tool is first looked up in a
registry (or its class named here, PEP 562): a replay that only writes a
file does not import Bash, WebFetch, Grep and the rest.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from llmos.lazy import load_export
from llmos.tools.base import Tool, ToolRegistry

if TYPE_CHECKING:
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

#: Tool name → (module, class), in the order the tools are offered.
BUILTIN: dict[str, tuple[str, str]] = {
    "Read": ("llmos.tools.read", "ReadTool"),
    "Write": ("llmos.tools.write", "WriteTool"),
    "Edit": ("llmos.tools.edit", "EditTool"),
    "Bash": ("llmos.tools.bash", "BashTool"),
    "Glob": ("llmos.tools.glob", "GlobTool"),
    "Grep": ("llmos.tools.grep", "GrepTool"),
    "LS": ("llmos.tools.ls", "LSTool"),
    "WebFetch": ("llmos.tools.webfetch", "WebFetchTool"),
}
_HOMES = {
    **{cls: module for module, cls in BUILTIN.values()},
    "SandboxStatus": "llmos.tools.sandbox",
    "sandbox_status": "llmos.tools.sandbox",
}


def __getattr__(name: str) -> Any:
    return load_export(__name__, _HOMES, name)


def _build(module: str, cls: str) -> Tool:
    tool: Tool = getattr(importlib.import_module(module), cls)()
    return tool


def builtin_tools() -> list[Tool]:
    """A fresh instance of every built-in tool, in the order they are offered."""
    return [_build(module, cls) for module, cls in BUILTIN.values()]


def default_registry() -> ToolRegistry:
    """A registry holding the built-in tools (each built on first use); plugins and MCP
    servers add to it."""
    registry = ToolRegistry()
    for name, (module, cls) in BUILTIN.items():
        registry.register_lazy(name, functools.partial(_build, module, cls))
    return registry
