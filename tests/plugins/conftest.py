"""Fixtures for plugin, hook and MCP tests: a real workspace, the demo MCP server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from plugins_helpers import DEMO_SERVER

from llmos.plugins import McpServerConfig
from llmos.tools.base import ToolContext
from llmos.workspace import Workspace


@pytest.fixture
def space(workspace: Path) -> Workspace:
    return Workspace(workspace).ensure()


@pytest.fixture
def tool_ctx(space: Workspace) -> ToolContext:
    return ToolContext(cwd=space.root.parent, workspace=space.root)


@pytest.fixture
def demo_server() -> McpServerConfig:
    """The demo MCP server, started with this interpreter over stdio."""
    return McpServerConfig(command=sys.executable, args=[str(DEMO_SERVER)])
