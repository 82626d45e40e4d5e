"""Errors of the extension layer: plugins, user hooks and MCP servers.

They sit in the llmos hierarchy (``PluginConflictError`` is a
:class:`~llmos.errors.ConfigError`, so the CLI exits with code 2 on it).
"""

from __future__ import annotations

from llmos.errors import ConfigError, LLMOSError


class PluginError(LLMOSError):
    """A plugin tool or user hook is defined wrongly; ``origin`` names where."""

    def __init__(self, message: str, *, origin: str = "") -> None:
        super().__init__(message)
        self.origin = origin


class PluginConflictError(ConfigError):
    """Two plugins (or a plugin and a tool already registered) share a tool name."""

    def __init__(self, message: str, *, tool: str) -> None:
        super().__init__(message, key=tool)
        self.tool = tool


class McpServerError(LLMOSError):
    """An MCP server could not be started, listed or reached."""

    def __init__(self, message: str, *, server: str, command: str) -> None:
        super().__init__(message)
        self.server = server
        self.command = command
