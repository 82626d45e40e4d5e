"""``llmos budget``: the report for people and for scripts, ``set`` and ``reset``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llmos.cli.budget import app as budget_app
from llmos.economy import TokenEconomy
from llmos.messages import Usage

SONNET = "claude-sonnet-4-5"
T0 = 1_764_000_000.0  # 2025-11-24 16:00 UTC


@pytest.fixture
def cli() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """A stand-in for the llmos app."""

    root.add_typer(budget_app, name="budget")
    return root


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def spent(workspace: Path) -> TokenEconomy:
    """Two days of spending: $0.045 learner, $0.03 orchestrator, $0 unpriced, one saving."""
    now = [T0]
    economy = TokenEconomy(workspace / "ledger.sqlite", clock=lambda: now[0])
    reservation = economy.reserve("t-1", 1.0, mode="learner", project="web")
    economy.charge(reservation, model=SONNET, usage=Usage(input_tokens=10_000, output_tokens=1_000))
    now[0] += 86_400
    economy.charge(reservation, model="mystery-7b", usage=Usage(input_tokens=500))
    economy.charge(reservation, model=SONNET, usage=Usage(output_tokens=2_000), mode="orchestrator")
    economy.release(reservation)
    economy.credit_saving("t-2", "3f9c", 0.031)
    return economy


def test_json_report_is_one_object(
    cli: typer.Typer, runner: CliRunner, spent: TokenEconomy
) -> None:
    result = runner.invoke(cli, ["budget", "--json"])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    report = json.loads(line)
    assert report["total_usd"] is None and report["budget_source"] == "unlimited"
    assert report["spent_usd"] == pytest.approx(0.075)
    assert report["saved_usd"] == pytest.approx(0.031)
    assert [(d["day"], d["calls"], d["replays"]) for d in report["by_day"]] == [
        ("2025-11-24", 1, 0),
        ("2025-11-25", 2, 1),
    ]
    assert [g["key"] for g in report["by_mode"]] == ["learner", "orchestrator"]
    assert [g["key"] for g in report["by_model"]] == [SONNET, "mystery-7b"]
    assert report["by_model"][0]["usage"]["output_tokens"] == 3_000
    assert report["unpriced_models"] == ["mystery-7b"]


def test_the_report_for_people_has_totals_and_bars(
    cli: typer.Typer, runner: CliRunner, spent: TokenEconomy
) -> None:
    spent.set_budget(1.0)
    result = runner.invoke(cli, ["budget"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "budget    $1.00 (set with `llmos budget set`)"
    assert lines[1] == "spent     $0.08 · 3 calls"
    assert lines[2].startswith("left      $0.93  ██")  # 0.075 of 1.00: 2 of 24 cells spent
    assert lines[3] == "saved     $0.03 · 1 replays"
    day_rows = [line for line in lines if line.startswith("2025-11-2")]
    assert len(day_rows) == 2 and all("█" in row for row in day_rows)
    assert any(line.startswith("learner ") and "$0.05" in line for line in lines)
    assert "no price is known for mystery-7b" in result.stdout
    assert '[prices."MODEL"]' in result.stdout


def test_set_stores_the_budget_and_none_gives_it_back_to_settings(
    cli: typer.Typer, runner: CliRunner, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMOS_BUDGET__TOTAL_USD", "3")
    result = runner.invoke(cli, ["budget", "set", "$10"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "budget set to $10.00 (stored in the ledger; it wins over budget.total_usd in settings)\n"
    )
    report = json.loads(runner.invoke(cli, ["budget", "--json"]).stdout)
    assert (report["total_usd"], report["budget_source"]) == (10.0, "ledger")

    result = runner.invoke(cli, ["budget", "set", "none"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "stored budget removed; budget.total_usd from settings applies: $3.00\n"
    report = json.loads(runner.invoke(cli, ["budget", "--json"]).stdout)
    assert (report["total_usd"], report["budget_source"]) == (3.0, "config")


def test_set_warns_when_the_budget_is_already_spent(
    cli: typer.Typer, runner: CliRunner, spent: TokenEconomy
) -> None:
    result = runner.invoke(cli, ["budget", "set", "0.05"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == (
        "note: $0.08 is already spent, so new tasks will be refused; raise the budget or start "
        "afresh with `llmos budget reset`"
    )


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "1e308"])
def test_set_refuses_what_is_not_an_amount(cli: typer.Typer, runner: CliRunner, value: str) -> None:
    result = runner.invoke(cli, ["budget", "set", "--", value])
    assert result.exit_code == 2
    assert "is not an amount of dollars" in result.output


def test_reset_asks_first_and_keeps_the_budget(
    cli: typer.Typer, runner: CliRunner, spent: TokenEconomy
) -> None:
    spent.set_budget(2.0)
    refused = runner.invoke(cli, ["budget", "reset"], input="n\n")
    assert refused.exit_code == 1
    assert "Forget 3 charges ($0.08) and 1 savings ($0.03)" in refused.output
    assert spent.report().calls == 3

    done = runner.invoke(cli, ["budget", "reset", "--yes"])
    assert done.exit_code == 0, done.output
    assert "the budget stays $2.00" in done.stdout
    report = spent.report()
    assert (report.calls, report.replays, report.total_usd) == (0, 0, 2.0)


def test_the_workspace_option_works_before_or_after_the_sub_command(
    cli: typer.Typer, runner: CliRunner, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    assert runner.invoke(cli, ["budget", "-w", str(other), "set", "4"]).exit_code == 0
    assert runner.invoke(cli, ["budget", "set", "5", "--workspace", str(other)]).exit_code == 0
    report = json.loads(runner.invoke(cli, ["budget", "--json", "-w", str(other)]).stdout)
    assert report["total_usd"] == 5.0
    assert TokenEconomy(other / "ledger.sqlite").report().total_usd == 5.0
