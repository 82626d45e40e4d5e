"""``llmos budget``: the balance, what was spent and saved, and the budget itself.

With no sub-command it shows the report (``--json`` prints it as one JSON
object). ``llmos budget set 10`` stores a total budget in the workspace's
ledger, where every llmos process sees it and where it wins over
``budget.total_usd`` from settings; ``llmos budget set none`` removes it, so
settings apply again. ``llmos budget reset`` forgets all charges and savings
(the budget stays).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmos.cli.common import JsonOption, WorkspaceOption, open_workspace, stdout_console
from llmos.config import MAX_USD
from llmos.economy import EconomyReport, SpendGroup, TokenEconomy, format_usd

app = typer.Typer(
    name="budget",
    help="Spending, savings and the budget.",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
)

BAR_WIDTH = 24
UNLIMITED_WORDS = frozenset({"none", "unlimited", "off"})
_REPORT_JSON = TypeAdapter(EconomyReport)
PRICES_TABLE = escape('[prices."MODEL"]')


def _economy(workspace: Path | None, *, create: bool) -> TokenEconomy:
    """The ledger's economy; ``create=False`` for a command that only reads it."""
    settings, _ = open_workspace(workspace)
    return TokenEconomy.from_settings(settings, create=create)


def _bar(value: float, largest: float, style: str) -> str:
    cells = 0 if largest <= 0 else round(BAR_WIDTH * value / largest)
    if value > 0:
        cells = max(cells, 1)  # anything spent shows
    return f"[{style}]{'█' * cells}[/]{' ' * (BAR_WIDTH - cells)}"


def _balance_bar(report: EconomyReport) -> str:
    """Spent, reserved and left as parts of the total, in one line."""
    total = report.total_usd or 0.0
    if total <= 0:
        return ""
    spent = min(BAR_WIDTH, round(BAR_WIDTH * report.spent_usd / total))
    reserved = min(BAR_WIDTH - spent, round(BAR_WIDTH * report.reserved_usd / total))
    left = BAR_WIDTH - spent - reserved
    return f"[red]{'█' * spent}[/][yellow]{'█' * reserved}[/][green]{'░' * left}[/]"


def _source(report: EconomyReport) -> str:
    return {
        "ledger": "set with `llmos budget set`",
        "config": "budget.total_usd in settings",
        "unlimited": "no budget set",
    }[report.budget_source]


def _summary(report: EconomyReport, console: Console) -> None:
    total = "unlimited" if report.total_usd is None else format_usd(report.total_usd)
    per_task = (
        "" if report.per_task_usd is None else f" · per task {format_usd(report.per_task_usd)}"
    )
    console.print(f"[bold]budget[/]    {total} [dim]({escape(_source(report))})[/]{per_task}")
    console.print(f"[bold]spent[/]     {format_usd(report.spent_usd)} · {report.calls} calls")
    if report.open_reservations:
        console.print(
            f"[bold]reserved[/]  {format_usd(report.reserved_usd)} "
            f"by {report.open_reservations} running task(s)"
        )
    if report.balance_usd is not None:
        left = format_usd(report.balance_usd)
        console.print(f"[bold]left[/]      {left}  {_balance_bar(report)}")
    console.print(f"[bold]saved[/]     {format_usd(report.saved_usd)} · {report.replays} replays")


def _days_table(report: EconomyReport) -> Table:
    table = Table(title="by day (UTC)", title_justify="left", box=None, pad_edge=False)
    for column, justify in (("day", "left"), ("spent", "left"), ("", "right"), ("saved", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    largest = max(max(d.spent_usd, d.saved_usd) for d in report.by_day)
    for day in report.by_day:
        table.add_row(
            day.day,
            _bar(day.spent_usd, largest, "red"),
            format_usd(day.spent_usd),
            format_usd(day.saved_usd) if day.replays else "",
        )
    return table


def _groups_table(title: str, groups: tuple[SpendGroup, ...]) -> Table:
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for column, justify in (
        (title.removeprefix("by "), "left"),
        ("", "left"),
        ("spent", "right"),
        ("calls", "right"),
        ("tokens in/out", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    largest = max(g.spent_usd for g in groups)
    for group in groups:
        usage = group.usage
        table.add_row(
            escape(group.key or "-"),
            _bar(group.spent_usd, largest, "cyan"),
            format_usd(group.spent_usd),
            str(group.calls),
            f"{usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens:,}"
            f"/{usage.output_tokens:,}",
        )
    return table


def budget_line(report: EconomyReport) -> str:
    """The economy in one line: budget, spent, left, saved."""
    total = "unlimited" if report.total_usd is None else format_usd(report.total_usd)
    parts = [
        f"budget {total}",
        f"spent {format_usd(report.spent_usd)} ({report.calls} calls)",
    ]
    if report.balance_usd is not None:
        parts.append(f"left {format_usd(report.balance_usd)}")
    parts.append(f"saved {format_usd(report.saved_usd)} ({report.replays} replays)")
    return " · ".join(parts)


def render_report(report: EconomyReport, console: Console) -> None:
    """The report for people: totals, then bars by day, mode, model and project."""
    _summary(report, console)
    if report.by_day:
        console.print()
        console.print(_days_table(report))
    for title, groups in (("by mode", report.by_mode), ("by model", report.by_model)):
        if groups:
            console.print()
            console.print(_groups_table(title, groups))
    if any(group.key for group in report.by_project):
        console.print()
        console.print(_groups_table("by project", report.by_project))
    if report.unpriced_models:
        names = ", ".join(report.unpriced_models)
        console.print(
            f"\n[yellow]note:[/] no price is known for {escape(names)}; their calls count as "
            f"$0. Add a {PRICES_TABLE} table (input, output per million tokens) to llmos.toml.",
            soft_wrap=True,
        )


@app.callback(invoke_without_command=True)
def show(
    ctx: typer.Context, workspace: WorkspaceOption = None, json_output: JsonOption = False
) -> None:
    """Show the balance, spending and savings (by day, mode and model)."""
    ctx.obj = workspace
    if ctx.invoked_subcommand is not None:
        return
    report = _economy(workspace, create=False).report()
    if json_output:
        print(_REPORT_JSON.dump_json(report).decode())
    else:
        render_report(report, stdout_console())


def _parse_usd(text: str) -> float | None:
    if text.strip().lower() in UNLIMITED_WORDS:
        return None
    try:
        value = float(text.strip().removeprefix("$").replace(",", ""))
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_USD:  # also false for nan
        raise typer.BadParameter(
            f"{text!r} is not an amount of dollars; give a number from 0 to {MAX_USD:,.0f} "
            "such as 10 or 2.50, "
            "or `none` to remove the stored budget",
            param_hint="USD",
        )
    return value


@app.command("set")
def set_budget(
    ctx: typer.Context,
    usd: Annotated[
        str,
        typer.Argument(metavar="USD", help="Dollars, e.g. 10 or 2.50; `none` to remove it."),
    ],
    workspace: WorkspaceOption = None,
) -> None:
    """Store the total budget in the ledger; it wins over budget.total_usd in settings."""
    amount = _parse_usd(usd)
    economy = _economy(workspace or ctx.obj, create=True)
    economy.set_budget(amount)
    report = economy.report()
    if amount is not None:
        said = (
            f"budget set to {format_usd(amount)} (stored in the ledger; it wins over "
            "budget.total_usd in settings)"
        )
    elif report.total_usd is None:
        said = "stored budget removed; no budget is set, so spending is unlimited"
    else:
        said = (
            "stored budget removed; budget.total_usd from settings applies: "
            f"{format_usd(report.total_usd)}"
        )
    if report.balance_usd is not None and report.balance_usd <= 0:
        said += (
            f"\n[yellow]note:[/] {format_usd(report.spent_usd)} is already spent, so new tasks "
            "will be refused; raise the budget or start afresh with `llmos budget reset`"
        )
    stdout_console().print(said, soft_wrap=True)


@app.command()
def reset(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Forget every charge and saving in the ledger (the budget itself stays)."""
    economy = _economy(workspace or ctx.obj, create=True)
    before = economy.report()
    if not yes:
        typer.confirm(
            f"Forget {before.calls} charges ({format_usd(before.spent_usd)}) and "
            f"{before.replays} savings ({format_usd(before.saved_usd)}) in {economy.ledger.path}?",
            abort=True,
        )
    economy.reset()
    total = "unlimited" if before.total_usd is None else format_usd(before.total_usd)
    stdout_console().print(
        f"ledger reset: {format_usd(before.spent_usd)} spent and {format_usd(before.saved_usd)} "
        f"saved forgotten; the budget stays {total}",
        soft_wrap=True,
    )
