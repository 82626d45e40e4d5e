"""Extending llmos without touching its code: plugin tools, user hooks, MCP servers."""

from llmos.config import McpConfig, McpServerConfig
from llmos.plugins.decorator import FunctionTool, HookSpec, hook, make_tool, tool
from llmos.plugins.errors import McpServerError, PluginConflictError, PluginError
from llmos.plugins.extensions import Extensions
from llmos.plugins.loader import (
    HOOK_GROUP,
    PLUGIN_GROUP,
    LoadProblem,
    LoadReport,
    load_plugins,
    load_user_hooks,
)
from llmos.plugins.mcp_client import McpTool, McpTools, mcp_tool_name

__all__ = [
    "HOOK_GROUP",
    "PLUGIN_GROUP",
    "Extensions",
    "FunctionTool",
    "HookSpec",
    "LoadProblem",
    "LoadReport",
    "McpConfig",
    "McpServerConfig",
    "McpServerError",
    "McpTool",
    "McpTools",
    "PluginConflictError",
    "PluginError",
    "hook",
    "load_plugins",
    "load_user_hooks",
    "make_tool",
    "mcp_tool_name",
    "tool",
]
