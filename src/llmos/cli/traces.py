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
from rich.table import Column, Table

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
from llmos.config import Settings
from llmos.errors import ConfigError, TraceFormatError
from llmos.kernel.dispatcher import VerifyResult
from llmos.memory.library import TraceLibrary
from llmos.memory.summary import TraceSummary
from llmos.memory.trace_format import render_trace
from llmos.projects import Projects

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
    """Every trace: status, goal, who learned it, uses, judged replay success rate, savings.

    ``--json`` adds the last use, the failure kind and the costs.
    """
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
    table = Table(
        Column("id", no_wrap=True),
        "status",
        Column("goal", ratio=3),
        Column("learned by", ratio=1),
        "uses",
        "success",
        "saved",
    )
    for entry in entries:
        rate = TraceSummary.of(entry).success_rate
        status = f"{entry.status} ({entry.failure})" if entry.failure else entry.status
        table.add_row(
            entry.id,
            status,
            escape(" ".join(entry.goal.split())),
            escape(" ".join(part for part in (entry.backend, entry.model) if part) or "–"),
            str(entry.use_count),
            "–" if rate is None else f"{rate:.0%}",
            f"${entry.saved_usd:.3f}",
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
    _, front, body = text.split("---\n", 2)
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
    trace = store.load(trace_id)
    if not yes and not typer.confirm(f"Delete trace {trace.id} ({trace.goal!r})?"):
        raise typer.Exit(1)
    store.delete(trace.id)
    stderr_console().print(f"deleted {trace.id}")


@app.command("reject")
def reject(
    trace_id: Annotated[str, typer.Argument(help="Trace id or a unique prefix.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="What was wrong.")],
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
) -> None:
    """Say a trace's result was wrong: it becomes failed and is never followed again."""
    _, library = _library(workspace, project)
    trace = library.reject(trace_id, reason)
    stderr_console().print(f"rejected {trace.id}: it is kept as advice and never replayed")


@app.command("promote")
def promote(
    trace_id: Annotated[str, typer.Argument(help="Trace id or a unique prefix.")],
    note: Annotated[str, typer.Option("--note", help="Why you vouch for it.")] = "",
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
) -> None:
    """Vouch for an unverified (or failed) trace after checking its result: it is replayed."""
    _, library = _library(workspace, project)
    trace = library.promote(trace_id, note)
    stderr_console().print(f"promoted {trace.id}: `llmos run` now follows it for its goal")


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

    An imported trace that holds becomes trusted (followable); so does an unverified
    one whose goal's check passes on the replay. Exit code 1 if any fails.
    """
    settings, library = _library(workspace, project)
    # Failed traces are advice, never replayed: checking them means naming them.
    ids = trace_ids or [entry.id for entry in library.entries() if entry.status != "failed"]
    results = asyncio.run(_verify_all(settings, ids))
    console = stdout_console()
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
    if not all(result.holds for result in results):
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
