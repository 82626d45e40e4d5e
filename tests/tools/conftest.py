"""Fixtures for the tool tests: a working directory, a folder outside it, a runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from llmos.config import ToolsConfig
from llmos.tools import default_registry
from llmos.tools.base import ToolContext, ToolResult

RunTool = Callable[..., Awaitable[ToolResult]]


@pytest.fixture
def cwd(workspace: Path) -> Path:
    workspace.mkdir(parents=True, exist_ok=True)
    return workspace


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the workspace, with a file the tools must never touch."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("do not touch\n")
    return folder


@pytest.fixture
def ctx(cwd: Path) -> ToolContext:
    """Tools without the sandbox; the sandbox has its own tests."""
    return ToolContext(cwd=cwd, workspace=cwd, settings=ToolsConfig(sandbox=False))


@pytest.fixture
def run_tool(ctx: ToolContext) -> RunTool:
    """Call a built-in tool the way the agent loop does: through the registry."""
    registry = default_registry()

    async def run(
        name: str, tool_input: Mapping[str, Any], context: ToolContext | None = None
    ) -> ToolResult:
        return await registry.execute(name, tool_input, context or ctx)

    return run
