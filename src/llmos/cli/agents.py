"""``llmos agents``: the agents tasks can use (shipped, workspace and project ones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from llmos.agents import Agent, AgentFormatError, AgentLibrary, render_agent, scaffold_agent
from llmos.cli.common import (
    JsonOption,
    ProjectOption,
    WorkspaceOption,
    open_workspace,
    stderr_console,
    stdout_console,
)
from llmos.projects import Projects

app = typer.Typer(no_args_is_help=True, add_completion=False)
NameArgument = Annotated[str, typer.Argument(help="The agent's name (e.g. researcher).")]


def open_library(workspace: Path | None, project: str | None) -> AgentLibrary:
    """The agents of the workspace, and of the project (``--project`` or the current one)."""
    settings, space = open_workspace(workspace)
    chosen = Projects(space).resolve(project, settings.project_dir)
    return AgentLibrary.for_folders(chosen.agents if chosen else None, space.agents)


def _agent_json(agent: Agent) -> dict[str, object]:
    return {
        "name": agent.name,
        "description": agent.description,
        "tools": None if agent.tools is None else list(agent.tools),
        "model": agent.model,
        "max_turns": agent.max_turns,
        "version": agent.version,
        "generated": agent.generated,
        "source": agent.source,
        "path": None if agent.path is None else str(agent.path),
    }


@app.command("list")
def list_agents(
    workspace: WorkspaceOption = None, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """List the agents; broken agent files are reported on stderr with their paths."""
    library = open_library(workspace, project)
    agents = library.agents()
    err = stderr_console()
    for problem in library.problems:
        err.print(f"[yellow]skipped[/] {problem.path}: {escape(problem.message)}")
    if as_json:
        for agent in agents:
            print(json.dumps(_agent_json(agent), ensure_ascii=False))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("name", "source", "tools", "description"):
        table.add_column(column)
    for agent in agents:
        source = agent.source + (" · generated" if agent.generated else "")
        tools = "all" if agent.tools is None else ", ".join(agent.tools)
        table.add_row(escape(agent.name), source, escape(tools), escape(agent.description))
    stdout_console().print(table)


@app.command("show")
def show(
    name: NameArgument,
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show an agent's definition: its front matter and its prompt."""
    agent = open_library(workspace, project).get(name)
    if as_json:
        print(json.dumps({**_agent_json(agent), "prompt": agent.prompt}, ensure_ascii=False))
        return
    console = stdout_console()
    console.print(f"[dim]# {agent.path} ({agent.source})[/]")
    console.print(escape(render_agent(agent)), end="")


@app.command("new")
def new(
    name: NameArgument,
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Create an agent file to edit (in the project's agents/ when there is a project)."""
    library = open_library(workspace, project)
    target = library.folder / f"{name}.md"
    if target.exists() and not force:
        raise AgentFormatError(f"{target} exists; edit it, or pass --force to start over")
    written = library.write(scaffold_agent(name))
    stdout_console().print(f"created {written.path}; edit its description and prompt")


@app.command("rm")
def rm(
    name: NameArgument,
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
) -> None:
    """Delete an agent file (shipped agents cannot be removed, only overridden)."""
    path = open_library(workspace, project).remove(name)
    stdout_console().print(f"removed {path}")
