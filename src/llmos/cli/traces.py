"""``llmos traces``: look after the trace library (list, show, rm, match, trust, share).

``match`` decides, for each goal, what ``llmos run`` would do (follow, guide
or learn) and which tool calls a replay would make; it executes nothing.
``trust`` shows a trace's steps and, once the user agrees, seals it with the
installation's key: the only way an edited trace is followed again.
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

from llmos.api import LLMOS, VerifyResult
from llmos.cli.common import (
    JsonOption,
    ProjectOption,
    WorkspaceOption,
    open_workspace,
    stderr_console,
    stdout_console,
)
from llmos.cli.render import print_match, report_untrusted
from llmos.cli.terminal import visible
from llmos.config import Settings
from llmos.errors import ConfigError, TraceFormatError
from llmos.memory.integrity import Trust
from llmos.memory.library import TraceLibrary
from llmos.memory.store import TraceStore
from llmos.memory.summary import TraceSummary
from llmos.memory.trace import Trace
from llmos.memory.trace_format import render_trace
from llmos.projects import Projects
from llmos.text import unicode_problem

app = typer.Typer(no_args_is_help=True, add_completion=False)


def _library(workspace: Path | None, project: str | None) -> tuple[Settings, TraceLibrary]:
    """The traces a command sees: the project's (when one is current), the workspace's, the
    starter library's (unless switched off)."""
    settings, space = open_workspace(workspace, project=project)
    chosen = Projects(space).resolve(settings.project, settings.project_dir)
    return settings, TraceLibrary.for_workspace(space, chosen, starter=settings.library.starter)


def _report_problem(err: Console) -> object:
    def report(problem: TraceFormatError) -> None:
        err.print(f"[yellow]skipped:[/] {escape(str(problem))}")

    return report


@app.command("list")
def list_traces(
    workspace: WorkspaceOption = None, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """Every trace: status, goal, who learned it, uses, judged replay success rate, savings.

    Traces of the starter library shipped with llmos are marked ``starter``.

    ``--json`` adds the last use, the failure kind and the costs.
    """
    _, library = _library(workspace, project)
    err = stderr_console()
    library.ensure_fresh(on_error=_report_problem(err))  # type: ignore[arg-type]
    rows = []
    for store in library.stores:
        for entry in store.entries():
            trust = store.trust_of_entry(entry)
            rows.append(
                (entry, TraceSummary.of(entry, trust.state if trust else None, store.scope))
            )
    if as_json:
        for _, row in rows:
            print(row.model_dump_json())
        return
    if not rows:
        err.print(f"no traces yet in {library.home.root}")
        return
    table = Table(
        Column("id", no_wrap=True, min_width=12),  # ids are copied: never cut them
        "status",
        Column("goal", ratio=3),
        Column("learned by", ratio=1),
        "uses",
        "success",
        "saved",
    )
    for entry, row in rows:
        rate = row.success_rate
        status = f"{entry.status} ({entry.failure})" if entry.failure else entry.status
        if row.trust != "trusted":
            status += f" [red]{row.trust or 'unreadable'}[/]"
        if row.library == "starter":
            status += " [cyan]starter[/]"
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
    store = library.store_of(trace_id)
    trace = store.load(trace_id)
    text = render_trace(trace)
    trust = store.trust_of(trace)
    if not trust.trusted:
        stderr_console().print(
            f"[yellow]untrusted ({trust.state}):[/] {escape(trust.reason)}; it is not followed "
            f"until `llmos traces trust {trace.id}`",
            soft_wrap=True,
        )
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
    if store.scope == "starter":
        store.delete(full_id)  # refused before asking: the starter library is read-only
    try:
        what = f"trace {full_id} ({store.load(full_id).goal!r})"
    except TraceFormatError as exc:  # a broken file is removed unread
        what = f"the broken trace file {store.path_for(full_id)} ({exc})"
    if not yes and not typer.confirm(visible(f"Delete {what}?")):
        raise typer.Exit(1)
    store.delete(full_id)
    stderr_console().print(f"deleted {full_id}")


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
            report_untrusted(stderr_console(), result)


@app.command("verify")
def verify(
    trace_ids: Annotated[
        list[str] | None, typer.Argument(help="Trace ids or prefixes (default: every trace).")
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
    # Failed traces are advice, never replayed: checking them means naming them. The starter
    # library's traces need their inputs (CI replays them with theirs): only when named.
    ids = trace_ids or [
        entry.id
        for store in library.stores
        if store.scope != "starter"
        for entry in store.entries()
        if entry.status != "failed"
    ]
    broken = [] if trace_ids else library.problems()
    results = asyncio.run(_verify_all(settings, ids))
    console = stdout_console()
    for problem in broken:  # a file that does not parse cannot hold: it is listed as failing
        path = getattr(problem, "path", None)  # a TraceFormatError names its file
        name = path.name if path else "?"
        reason = str(problem).removeprefix(f"{path}: ")
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
                        "trusted": result.trusted,
                        "reason": result.reason,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            mark = "[green]holds[/]" if result.holds else "[red]fails[/]"
            trusted = "" if result.trusted else "  [red](untrusted)[/]"
            console.print(f"{mark}  {result.trace.id}  {escape(result.trace.goal)}{trusted}")
            console.print(f"       [dim]{escape(result.reason)}[/]")
    if broken or not all(result.holds and result.trusted for result in results):
        raise typer.Exit(1)


async def _verify_all(settings: Settings, ids: list[str]) -> list[VerifyResult]:
    async with LLMOS(settings=settings) as llmos:
        return [await llmos.verify(trace_id) for trace_id in ids]


@app.command("trust")
def trust(
    trace_ids: Annotated[
        list[str] | None, typer.Argument(help="Trace ids or prefixes to trust.")
    ] = None,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Every trace with no seal or another key's (not edited ones, not imports).",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask (needed off a terminal).")
    ] = False,
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
) -> None:
    """Show a trace's steps, then sign it so that it is followed again.

    A trace is followed only if its seal checks: a file edited by hand, an
    imported trace or one written before llmos signed traces is not, until
    you trust it here (or `llmos traces verify` replays it in the sandbox).
    """
    if not trace_ids and not every:
        raise ConfigError(
            "name the traces to trust (`llmos traces list` shows which are not), or pass --all",
            key="trace_ids",
        )
    _, library = _library(workspace, project)
    err = stderr_console()
    chosen = _untrusted(library, trace_ids or [], every, err)
    if not chosen:
        err.print("nothing to trust: every trace named is trusted already")
        return
    for _, trace, why in chosen:
        _show_for_review(trace, why.reason)
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError(
                "trusting traces needs a confirmation: run it on a terminal, or pass --yes "
                "after reviewing the steps above",
                key="yes",
            )
        question = f"Trust {len(chosen)} trace(s)? Their steps will run with no LLM in the loop"
        if not typer.confirm(question):
            raise typer.Exit(1)
    for store, trace, _ in chosen:
        store.trust(trace.id, as_seen=trace)
        err.print(f"trusted {trace.id}")


def _untrusted(
    library: TraceLibrary, ids: list[str], every: bool, err: Console
) -> list[tuple[TraceStore, Trace, Trust]]:
    """The traces to review: those named, or with --all the ones no one can vouch against.

    ``--all`` takes unsigned traces (the migration from before traces were
    signed) and traces sealed with another key; an edited trace or an import
    must be named, so that it is looked at on its own.
    """
    chosen: dict[str, tuple[TraceStore, Trace, Trust]] = {}
    for trace_id in ids:
        store = library.store_of(trace_id)
        trace = store.load(trace_id)
        state = store.trust_of(trace)
        if state.trusted:
            err.print(f"{trace.id} is trusted already")
        else:
            chosen[trace.id] = (store, trace, state)
    if every:  # the starter library is as shipped or not used: never trusted by hand
        for store in (store for store in library.stores if store.scope != "starter"):
            for trace in store.iter(on_error=_report_problem(err)):  # type: ignore[arg-type]
                state = store.trust_of(trace)
                if state.state in ("unsigned", "foreign") and trace.status != "untrusted":
                    chosen.setdefault(trace.id, (store, trace, state))
    return list(chosen.values())


def _show_for_review(trace: Trace, why: str) -> None:
    """Every step in full, escaped to ASCII so that no control character can hide a part."""
    console = stdout_console()
    console.print(f"[bold]trace {trace.id}[/]: {escape(why)}")
    console.print(f"  goal: {escape(json.dumps(trace.goal))}")
    for number, step in enumerate(trace.steps, 1):
        shown = json.dumps(dict(step.input), sort_keys=True)
        console.print(f"  step {number} · {escape(step.tool)} {escape(shown)}", soft_wrap=True)
    if not trace.steps:
        console.print("  (no steps)")
    console.print(f"  answer: {escape(json.dumps(trace.final_answer)[:500])}", soft_wrap=True)


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
    """Add shared traces; they stay untrusted (never followed) until trusted or verified."""
    store = _library(workspace, project)[1].home
    report = store.import_(path)
    err = stderr_console()
    for name, reason in report.skipped:
        err.print(f"[yellow]skipped {escape(name)}:[/] {escape(reason)}")
    err.print(
        f"imported {len(report.imported)} traces as untrusted; `llmos traces verify` replays "
        "them in the sandbox, `llmos traces trust ID` trusts one after showing its steps"
    )
