"""``llmos projects``: create, list, select, show and remove projects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from llmos.cli.common import (
    JsonOption,
    WorkspaceOption,
    open_workspace,
    stdout_console,
)
from llmos.projects import Project, Projects

app = typer.Typer(no_args_is_help=True, add_completion=False)

NameArgument = Annotated[str, typer.Argument(help="The project's name (its folder name).")]


def open_projects(workspace: Path | None) -> Projects:
    _, space = open_workspace(workspace)
    return Projects(space)


def _project_json(projects: Projects, project: Project) -> dict[str, object]:
    current = projects.current()
    return {
        "name": project.name,
        "path": str(project.root),
        "description": project.description(),
        "created": project.created(),
        "current": current is not None and current.name == project.name,
        **{key.replace(" ", "_"): value for key, value in projects.stats(project).items()},
    }


@app.command("new")
def new(
    name: NameArgument,
    description: Annotated[str, typer.Option("--description", "-d", help="One line.")] = "",
    use: Annotated[bool, typer.Option("--use", help="Make it the current project.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a project: its own agents, memory, state and output folders."""
    projects = open_projects(workspace)
    project = projects.create(name, description=description)
    if use:
        projects.use(name)
    suffix = " (now current)" if use else f"; select it with `llmos projects use {name}`"
    stdout_console().print(f"created project [bold]{escape(name)}[/] at {project.root}{suffix}")


@app.command("list")
def list_projects(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List the projects; the current one is marked with *."""
    projects = open_projects(workspace)
    found = projects.list()
    if as_json:
        for project in found:
            print(json.dumps(_project_json(projects, project), ensure_ascii=False))
        return
    console = stdout_console()
    if not found:
        console.print("no projects yet; create one with `llmos projects new NAME`")
        return
    current = projects.current()
    table = Table(box=None, pad_edge=False)
    for column in ("", "name", "traces", "agents", "description"):
        table.add_column(column)
    for project in found:
        stats = projects.stats(project)
        mark = "*" if current is not None and current.name == project.name else ""
        table.add_row(
            mark,
            escape(project.name),
            str(stats["traces"]),
            str(stats["agents"]),
            escape(project.description()),
        )
    console.print(table)


@app.command("use")
def use(
    name: Annotated[
        str | None, typer.Argument(help="The project; leave out with --none.", show_default=False)
    ] = None,
    none: Annotated[bool, typer.Option("--none", help="Work outside any project.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Make a project the current one: later commands work in it until changed."""
    projects = open_projects(workspace)
    if none or name is None:
        if not none:
            raise typer.BadParameter("give a project name, or --none to leave the project")
        projects.use(None)
        stdout_console().print("no current project")
        return
    project = projects.use(name)
    assert project is not None
    stdout_console().print(f"current project: [bold]{escape(project.name)}[/]")


@app.command("show")
def show(
    name: NameArgument, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Show a project's folders and how much it holds."""
    projects = open_projects(workspace)
    project = projects.get(name)
    data = _project_json(projects, project)
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    console = stdout_console()
    current = " (current)" if data["current"] else ""
    console.print(f"[bold]{escape(project.name)}[/]{current}  {project.root}")
    if data["description"]:
        console.print(escape(str(data["description"])))
    if data["created"]:
        console.print(f"created   {data['created']}")
    for key, value in projects.stats(project).items():
        console.print(f"{key:<15} {value}")


@app.command("rm")
def rm(
    name: NameArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Delete a project and everything in it (asks first unless --yes)."""
    projects = open_projects(workspace)
    project = projects.get(name)
    stats = projects.stats(project)
    if not yes:
        held = ", ".join(f"{value} {key}" for key, value in stats.items() if value) or "nothing"
        typer.confirm(
            f"Delete project {name} at {project.root} ({held})?", default=False, abort=True
        )
    projects.remove(name)
    stdout_console().print(f"removed project [bold]{escape(name)}[/]")
