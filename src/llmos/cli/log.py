"""``llmos log [TASK_ID]``: recent tasks, or everything one task did, from the session log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmos.call_summary import summarize_input
from llmos.cli.common import (
    JsonOption,
    WorkspaceOption,
    open_workspace,
    stderr_console,
    stdout_console,
)
from llmos.errors import ConfigError
from llmos.events import (
    TOLD,
    Event,
    HookDecided,
    ModeChosen,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    TextStreamed,
    ToolCallFinished,
    ToolCallStarted,
    UsageUpdated,
)
from llmos.memory.session_log import LogProblem, SessionLog, TaskSummary

_STATUS_STYLE = {
    "done": "green",
    "unverified": "yellow",
    "failed": "red",
    "running": "cyan",
    "interrupted": "yellow",
}


def log_command(
    task_id: Annotated[
        str | None,
        typer.Argument(help="A task id (or its start); without one, list recent tasks."),
    ] = None,
    workspace: WorkspaceOption = None,
    json_output: JsonOption = False,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="How many recent tasks to list.")
    ] = 20,
) -> None:
    """Show the session log: recent tasks, or one task's events (--json: the raw lines)."""
    _, space = open_workspace(workspace)
    log = SessionLog(space.sessions)
    err = stderr_console()

    def note(problem: LogProblem) -> None:
        err.print(f"[yellow]note:[/] {escape(str(problem))}")

    if task_id is None:
        _list_tasks(log.tasks(on_problem=note)[:limit], json_output, err)
        return
    full_id = _resolve(log, task_id)
    if json_output:
        for line, _ in log.iter_lines(full_id, on_problem=note):
            print(line)
        return
    _show_task(stdout_console(), list(log.iter_events(full_id, on_problem=note)))


def _resolve(log: SessionLog, prefix: str) -> str:
    """The full task id for an id or a unique start of one."""
    ids = sorted({s.task_id for s in log.tasks() if s.task_id.startswith(prefix)})
    if prefix in ids or len(ids) == 1:
        return prefix if prefix in ids else ids[0]
    if not ids:
        raise ConfigError(
            f"no task with id or id prefix {prefix!r} in the session log; "
            "`llmos log` lists recent tasks",
            key="task_id",
        )
    raise ConfigError(
        f"the prefix {prefix!r} matches several tasks: {', '.join(ids[:10])}; "
        "give more characters of the id",
        key="task_id",
    )


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _list_tasks(tasks: list[TaskSummary], as_json: bool, err: Console) -> None:
    if as_json:
        for summary in tasks:
            print(json.dumps(summary.to_json(), ensure_ascii=False))
        return
    if not tasks:
        err.print('no tasks in the session log yet; run one with llmos run "…"')
        return
    table = Table("task", "when (UTC)", "mode", "status", "cost", "goal")
    for s in tasks:
        style = _STATUS_STYLE[s.status]
        table.add_row(
            s.task_id,
            _when(s.started),
            s.mode,
            f"[{style}]{s.status}[/]",
            f"${s.cost_usd:.4f}",
            escape(" ".join(s.goal.split())),
        )
    stdout_console().print(table)


def _show_task(console: Console, events: list[Event]) -> None:
    """One line per event, time from the task's start; streamed text joined into paragraphs."""
    start = events[0].ts if events else 0.0
    text: list[str] = []

    def flush() -> None:
        if "".join(text).strip():
            console.print(f"[dim]{'':>8}[/]  " + escape("".join(text).strip()))
        text.clear()

    for event in events:
        if isinstance(event, TextStreamed):
            text.append(event.text)
            continue
        flush()
        line = _describe(event)
        if line:
            console.print(f"[dim]{event.ts - start:>7.2f}s[/]  {line}")
    flush()


def _describe(event: Event) -> str:
    match event:
        case TaskStarted(goal=goal, mode=mode, task_id=task_id):
            return f"[bold]{task_id}[/] started ({mode}): {escape(goal)}"
        case ModeChosen(mode=mode, reason=reason, trace_id=trace_id):
            trace = f" · trace {trace_id}" if trace_id else ""
            return f"mode [bold]{mode}[/]{trace} [dim]{escape(reason)}[/]"
        case ToolCallStarted(tool=tool, input=tool_input, replay=replay):
            verb = "replay" if replay else "call"
            return f"▸ {verb} {tool} {escape(summarize_input(tool, tool_input))}"
        case ToolCallFinished(tool=tool, is_error=is_error, exit_code=code, output=output):
            mark = "[red]✗[/]" if is_error else "[green]✓[/]"
            exit_note = f" (exit {code})" if code is not None else ""
            first = output.strip().splitlines()[0][:120] if output.strip() else ""
            return f"  {mark} {tool}{exit_note} [dim]{escape(first)}[/]"
        case UsageUpdated(model=model, usage=usage, cost_usd=cost):
            return (
                f"[dim]usage {escape(model)}: {usage.input_tokens} in, "
                f"{usage.output_tokens} out, ${cost:.4f}[/]"
            )
        case HookDecided(hook=hook, decision=decision, reason=reason, tool=tool):
            on = f" on {tool}" if tool else ""
            return f"[yellow]⚠ {escape(hook)} hook{on}: {decision}[/] {escape(reason)}"
        case _ if isinstance(event, TOLD):
            return f"[{'yellow' if event.level == 'warning' else 'dim'}]{escape(event.message)}[/]"
        case TaskFinished(mode=mode, cost_usd=cost, duration_s=took, trace_id=trace_id):
            trace = f" · trace {trace_id}" if trace_id else ""
            head = "[green]done[/]" if event.success else "[yellow]unverified[/]"
            note = "" if event.success or not event.note else f" [dim]{escape(event.note)}[/]"
            return f"{head} in {took:.2f} s · {mode} · ${cost:.4f}{trace}{note}"
        case TaskFailed(error=error, failure=failure):
            return f"[red]failed[/] ({failure.value}): {escape(error)}"
    return ""
