"""``llmos schedule``: recurring tasks that ``llmos daemon`` runs.

``add "CRON" "GOAL"`` stores an entry, ``list`` shows each with its next run
and what a run would cost now (a goal that matches a saved trace is replayed
for free; any other needs the LLM), ``rm ID`` removes one.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.markup import escape

from llmos.cli.common import JsonOption, WorkspaceOption, open_workspace, stdout_console
from llmos.config import MODES, Settings
from llmos.errors import ConfigError
from llmos.events import RequestedMode
from llmos.memory import Matcher, MatchResult, TraceStore
from llmos.runtime.schedule_store import CronEntry, ScheduleStore, check_cron
from llmos.workspace import Workspace

app = typer.Typer(
    name="schedule",
    help="Recurring tasks: add, list, rm; `llmos daemon` runs them.",
    no_args_is_help=True,
    add_completion=False,
)


def _valid_cron(value: str) -> str:
    try:
        return check_cron(value)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _valid_mode(value: str | None) -> str | None:
    if value is not None and value not in MODES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(MODES)}")
    return value


def _store(workspace: Path | None) -> tuple[Settings, Workspace, ScheduleStore]:
    settings, ws = open_workspace(workspace)
    return settings, ws, ScheduleStore.for_workspace(ws)


@app.command("add")
def add(
    cron: Annotated[
        str,
        typer.Argument(
            metavar="CRON",
            help='When, as five cron fields in local time, e.g. "0 9 * * 1-5".',
            callback=_valid_cron,
        ),
    ],
    goal: Annotated[
        str, typer.Argument(metavar="GOAL", help="What to do each time, in plain words.")
    ],
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode", help=f"One of {', '.join(MODES)} (default: auto).", callback=_valid_mode
        ),
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", help="The project the task belongs to.")
    ] = None,
    workspace: WorkspaceOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add a recurring task; it will work in the current folder."""
    settings, _, store = _store(workspace)
    entry = store.add(
        cron, goal, mode=cast("RequestedMode | None", mode), project=project, cwd=settings.cwd
    )
    if json_output:
        print(json.dumps(entry.to_json(), ensure_ascii=False))
        return
    stdout_console().print(
        f"added [bold]{entry.id}[/] ({escape(entry.cron)}) · next run {_when(entry.next_run)}"
    )


@app.command("list")
def list_(workspace: WorkspaceOption = None, json_output: JsonOption = False) -> None:
    """List recurring tasks, their next run and whether a run costs LLM calls."""
    settings, ws, store = _store(workspace)
    entries = store.list()
    matcher = Matcher(TraceStore.for_memory(ws.memory))
    plans = [(entry, _plan(entry, _match(matcher, settings, entry))) for entry in entries]
    if json_output:
        for entry, plan in plans:
            print(json.dumps({**entry.to_json(), "plan": plan}, ensure_ascii=False))
        return
    console = stdout_console()
    if not entries:
        console.print('no recurring tasks; add one with llmos schedule add "0 9 * * *" "GOAL"')
        return
    for entry, plan in plans:
        where = f" · project {escape(entry.project)}" if entry.project else ""
        mode = f" · mode {entry.mode}" if entry.mode else ""
        last = _when(entry.last_run) if entry.last_run else "never"
        style = "green" if not plan["costs_llm_calls"] else "yellow"
        console.print(
            f"[bold]{entry.id}[/]  {escape(entry.cron)}  {escape(entry.goal)}{where}{mode}"
        )
        console.print(
            f"  next {_when(entry.next_run)} · last {last} · [{style}]{escape(plan['summary'])}[/]"
        )


@app.command("rm")
def rm(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="The id (or a unique prefix).")],
    workspace: WorkspaceOption = None,
) -> None:
    """Remove a recurring task."""
    _, _, store = _store(workspace)
    entry = store.remove(entry_id)
    stdout_console().print(
        f"removed [bold]{entry.id}[/] ({escape(entry.cron)}) {escape(entry.goal)}"
    )


def _match(matcher: Matcher, settings: Settings, entry: CronEntry) -> MatchResult:
    cfg = settings.follower
    return matcher.match(
        entry.goal,
        follow_threshold=cfg.follow_threshold,
        guide_threshold=cfg.guide_threshold,
        max_failures=cfg.max_failures,
    )


def _plan(entry: CronEntry, found: MatchResult) -> dict[str, Any]:
    """What the next run would do, as the dispatcher would decide it now."""
    trace_id = found.trace.id if found.trace else None
    follows = found.decision == "follow" and entry.mode != "learner"
    if follows:
        summary = f"follows trace {trace_id}, costs nothing"
    elif entry.mode == "learner":
        summary = "learns every run (mode learner): costs LLM calls"
    elif entry.mode == "follower":
        summary = "no saved trace matches well enough: the run will fail until one is learned"
    elif found.decision == "guide":
        summary = f"learns, guided by trace {trace_id}: costs LLM calls"
    else:
        summary = "learns: costs LLM calls"
    return {
        "decision": "follow" if follows else ("fail" if entry.mode == "follower" else "learn"),
        "trace_id": trace_id,
        "confidence": round(found.confidence, 4),
        "costs_llm_calls": not follows and entry.mode != "follower",
        "summary": summary,
    }


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()
