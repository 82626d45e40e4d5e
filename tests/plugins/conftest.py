"""Fixtures for plugin, hook and MCP tests: a real workspace, the demo MCP server."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from llmos.plugins import McpServerConfig
from llmos.tools.base import ToolContext
from llmos.workspace import Workspace

DEMO_SERVER = Path(__file__).with_name("mcp_demo_server.py")


def write(path: Path, source: str) -> Path:
    """Write a Python source file (dedented) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path


@pytest.fixture
def space(workspace: Path) -> Workspace:
    return Workspace(workspace).ensure()


@pytest.fixture
def tool_ctx(space: Workspace) -> ToolContext:
    return ToolContext(cwd=space.output, workspace=space.root)


@pytest.fixture
def demo_server() -> McpServerConfig:
    """The demo MCP server, started with this interpreter over stdio."""
    return McpServerConfig(command=sys.executable, args=[str(DEMO_SERVER)])
