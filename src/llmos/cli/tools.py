"""``llmos tools``: every tool the model can be offered, where it comes from, and
whether the Follower may replay it.

It loads what a run loads (built-ins, workspace and installed plugins, the
configured MCP servers, which it starts to list their tools and then stops)
and reports anything it had to skip on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from rich.markup import escape
from rich.table import Table

from llmos.api import run_sync
from llmos.cli.common import (
    JsonOption,
    WorkspaceOption,
    open_workspace,
    stderr_console,
    stdout_console,
)
from llmos.plugins import Extensions, LoadProblem, McpServerConfig
from llmos.tools import default_registry
from llmos.tools.base import Tool
from llmos.workspace import Workspace


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolListing:
    """The tools a run would offer, and the sources that were skipped."""

    tools: tuple[Tool, ...]
    problems: tuple[LoadProblem, ...]


async def collect_tools(
    workspace: Workspace, servers: Mapping[str, McpServerConfig]
) -> ToolListing:
    """Load everything a run would offer; MCP servers are stopped before returning."""
    registry = default_registry()
    async with Extensions(workspace, servers) as extensions:
        report = await extensions.install(registry)
    return ToolListing(tools=tuple(registry), problems=report.problems)


def tools_command(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List every tool the model can be offered: built-in, plugin and MCP."""
    settings, space = open_workspace(workspace)
    listing = run_sync(collect_tools(space, settings.mcp.servers))
    err = stderr_console()
    for problem in listing.problems:
        err.print(f"[yellow]skipped:[/] {escape(str(problem))}")
    if as_json:
        for tool in listing.tools:
            print(
                json.dumps(
                    {
                        "name": tool.name,
                        "source": tool.source,
                        "replayable": tool.replayable,
                        "description": tool.description,
                    },
                    ensure_ascii=False,
                )
            )
        return
    table = Table("name", "source", "replayable", "description")
    for tool in listing.tools:
        summary = tool.description.strip().splitlines()[0] if tool.description.strip() else ""
        table.add_row(
            escape(tool.name),
            escape(tool.source),
            "yes" if tool.replayable else "[yellow]no[/]",
            escape(summary),
        )
    stdout_console().print(table)
