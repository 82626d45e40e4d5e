"""``llmos traces``: look after the trace library (list, show, rm, match, reindex, share).

``match`` decides, for each goal, what ``llmos run`` would do (follow, guide
or learn) and which tool calls a replay would make; it executes nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from llmos.api import LLMOS
from llmos.cli.common import (
    JsonOption,
    ProjectOption,
    WorkspaceOption,
    open_workspace,
    stderr_console,
    stdout_console,
)
from llmos.cli.render import print_match
from llmos.cli.terminal import visible
from llmos.config import Settings
from llmos.errors import ConfigError, TraceFormatError
from llmos.kernel.dispatcher import VerifyResult
from llmos.memory.library import TraceLibrary
from llmos.memory.summary import TraceSummary
from llmos.memory.trace_format import render_trace
from llmos.projects import Projects
from llmos.text import unicode_problem

app = typer.Typer(no_args_is_help=True, add_completion=False)


def _library(workspace: Path | None, project: str | None) -> tuple[Settings, TraceLibrary]:
    """The traces a command sees: the project's (when one is current) before the workspace's."""
    settings, space = open_workspace(workspace, project=project)
    chosen = Projects(space).resolve(settings.project)
    return settings, TraceLibrary.for_workspace(space, chosen)


def _report_problem(err: Console) -> object:
    def report(problem: TraceFormatError) -> None:
        err.print(f"[yellow]skipped:[/] {escape(str(problem))}")

    return report


@app.command("list")
def list_traces(
    workspace: WorkspaceOption = None, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """Every trace: goal, uses, replay success rate, money saved, last use."""
    _, library = _library(workspace, project)
    err = stderr_console()
    library.ensure_fresh(on_error=_report_problem(err))  # type: ignore[arg-type]
    entries = library.entries()
    if as_json:
        for entry in entries:
            print(TraceSummary.of(entry).model_dump_json())
        return
    if not entries:
        err.print(f"no traces yet in {library.home.root}")
        return
    table = Table("id", "status", "goal", "uses", "success", "saved", "last used")
    for entry in entries:
        rate = TraceSummary.of(entry).success_rate
        table.add_row(
            entry.id,
            entry.status,
            escape(" ".join(entry.goal.split())),
            str(entry.use_count),
            "–" if rate is None else f"{rate:.0%}",
            f"${entry.saved_usd:.3f}",
            entry.last_used or "never",
        )
    stdout_console().print(table)


@app.command("show")
def show(
    trace_id: Annotated[str, typer.Argument(help="Trace id or a unique prefix.")],
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
    raw: Annotated[bool, typer.Option("--raw", help="Print the file exactly.")] = False,
) -> None:
    """One trace, rendered (front matter as YAML, steps as Markdown)."""
    _, library = _library(workspace, project)
    text = render_trace(library.store_of(trace_id).load(trace_id))
    if raw:
        sys.stdout.write(text)
        return
    _, front, body = visible(text).split("---\n", 2)
    console = stdout_console()
    console.print(Syntax(front.rstrip("\n"), "yaml", word_wrap=True))
    console.print(Markdown(body))


@app.command("rm")
def remove(
    trace_id: Annotated[str, typer.Argument(help="Trace id or a unique prefix.")],
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a trace."""
    _, library = _library(workspace, project)
    store = library.store_of(trace_id)
    full_id = store.resolve(trace_id)
    try:
        what = f"trace {full_id} ({store.load(full_id).goal!r})"
    except TraceFormatError as exc:  # a broken file is removed unread
        what = f"the broken trace file {store.path_for(full_id)} ({exc})"
    if not yes and not typer.confirm(visible(f"Delete {what}?")):
        raise typer.Exit(1)
    store.delete(full_id)
    stderr_console().print(f"deleted {full_id}")


@app.command("match")
def match(
    goals: Annotated[list[str], typer.Argument(help="Goals; '-' reads one per line from stdin.")],
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """What `llmos run` would do for each goal: follow, guide or learn. Runs nothing."""
    settings, library = _library(workspace, project)
    wanted: list[str] = []
    for goal in goals:
        if goal == "-":
            wanted.extend(line.rstrip("\r\n") for line in sys.stdin if line.strip())
        else:
            wanted.append(goal)
    if not wanted:
        raise ConfigError(
            "no goal given: pass goals as arguments or '-' with goals on stdin", key="goals"
        )
    for goal in wanted:
        if (problem := unicode_problem(goal, "the goal")) is not None:
            raise ConfigError(problem, key="goals")
    library.ensure_fresh(on_error=_report_problem(stderr_console()))  # type: ignore[arg-type]
    follower = settings.follower
    console = stdout_console()
    for goal in wanted:
        result = library.match(
            goal,
            follow_threshold=follower.follow_threshold,
            guide_threshold=follower.guide_threshold,
            max_failures=follower.max_failures,
        )
        if as_json:
            print(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            print_match(console, result)


@app.command("verify")
def verify(
    trace_ids: Annotated[
        list[str] | None, typer.Argument(help="Trace ids or prefixes [default: every trace].")
    ] = None,
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay traces in a throwaway copy of the workspace and report which still hold.

    An imported trace that holds becomes trusted (followable). Exit code 1 if any fails.
    """
    settings, library = _library(workspace, project)
    ids = trace_ids or [entry.id for entry in library.entries()]
    broken = [] if trace_ids else library.problems()
    results = asyncio.run(_verify_all(settings, ids))
    console = stdout_console()
    for problem in broken:  # a file that does not parse cannot hold: it is listed as failing
        name = problem.path.name if problem.path else "?"
        reason = str(problem).removeprefix(f"{problem.path}: ")
        if as_json:
            print(json.dumps({"file": name, "holds": False, "reason": reason}, ensure_ascii=False))
        else:
            console.print(f"[red]broken[/] {escape(name)}")
            console.print(f"       [dim]{escape(reason)}[/]")
    for result in results:
        if as_json:
            print(
                json.dumps(
                    {
                        "trace_id": result.trace.id,
                        "goal": result.trace.goal,
                        "holds": result.holds,
                        "reason": result.reason,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            mark = "[green]holds[/]" if result.holds else "[red]fails[/]"
            console.print(f"{mark}  {result.trace.id}  {escape(result.trace.goal)}")
            console.print(f"       [dim]{escape(result.reason)}[/]")
    if broken or not all(result.holds for result in results):
        raise typer.Exit(1)


async def _verify_all(settings: Settings, ids: list[str]) -> list[VerifyResult]:
    async with LLMOS(settings=settings) as llmos:
        return [await llmos.verify(trace_id) for trace_id in ids]


@app.command("reindex")
def reindex(workspace: WorkspaceOption = None, project: ProjectOption = None) -> None:
    """Rebuild the index from the trace files (broken files are reported and left out)."""
    _, library = _library(workspace, project)
    err = stderr_console()
    for store in library.stores:
        report = store.reindex()
        for problem in report.problems:
            err.print(f"[yellow]skipped:[/] {escape(str(problem))}")
        err.print(f"indexed {report.indexed} traces in {store.root}")


@app.command("export")
def export(
    path: Annotated[Path, typer.Argument(help="A .tar.gz file or a folder.")],
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
) -> None:
    """Write the trace library to a .tar.gz archive or a folder, to share it."""
    store = _library(workspace, project)[1].home
    err = stderr_console()
    count = store.export(path, on_error=_report_problem(err))  # type: ignore[arg-type]
    err.print(f"exported {count} traces to {path}")


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A .tar.gz file or a folder.")],
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
) -> None:
    """Add shared traces; they stay untrusted (never followed) until verified."""
    store = _library(workspace, project)[1].home
    report = store.import_(path)
    err = stderr_console()
    for name, reason in report.skipped:
        err.print(f"[yellow]skipped {escape(name)}:[/] {escape(reason)}")
    err.print(
        f"imported {len(report.imported)} traces as untrusted; `llmos traces verify` checks them"
    )
