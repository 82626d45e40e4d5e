"""``llmos schedule add/list/rm`` through a CLI runner, and what ``list`` says a run costs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from kernel_helpers import make_llmos
from typer.testing import CliRunner

from llmos.backends.scripted import ScriptedBackend
from llmos.cli.schedule import app as schedule_app
from llmos.errors import ConfigError


@pytest.fixture
def cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(schedule_app, name="schedule")
    return root


def invoke(cli: typer.Typer, workspace: Path, *args: str):
    return CliRunner().invoke(cli, ["schedule", *args, "-w", str(workspace)])


def listed(cli: typer.Typer, workspace: Path) -> list[dict]:
    result = invoke(cli, workspace, "list", "--json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_add_list_and_remove_an_entry(cli: typer.Typer, workspace: Path):
    added = invoke(cli, workspace, "add", "0  9 * * 1-5", "Summarise the logs", "--project", "ops")
    assert added.exit_code == 0, added.output
    [entry] = listed(cli, workspace)
    assert entry["cron"] == "0 9 * * 1-5"  # spaces normalised
    assert (entry["goal"], entry["project"], entry["mode"]) == ("Summarise the logs", "ops", None)
    assert added.stdout.startswith(f"added {entry['id']} (0 9 * * 1-5) · next run ")
    assert entry["last_run"] is None and "09:00" in entry["next_run"]
    human = invoke(cli, workspace, "list")
    assert (
        human.stdout.splitlines()[0]
        == f"{entry['id']}  0 9 * * 1-5  Summarise the logs · project ops"
    )
    assert "learns: costs LLM calls" in human.stdout
    removed = invoke(cli, workspace, "rm", entry["id"][:4])
    assert removed.exit_code == 0
    assert removed.stdout.strip() == f"removed {entry['id']} (0 9 * * 1-5) Summarise the logs"
    assert listed(cli, workspace) == []
    empty = invoke(cli, workspace, "list")
    assert empty.stdout.startswith("no recurring tasks; add one with llmos schedule add")


@pytest.mark.parametrize(
    ("cron", "says"),
    [
        ("* * * *", "cron expression '* * * *' has 4 field(s); use five fields"),
        ("61 * * * *", "cron expression '61 * * * *' is not valid"),
        ("0 0 31 2 *", "cron expression '0 0 31 2 *' never names a real date"),
    ],
)
def test_an_invalid_cron_expression_is_a_usage_error(
    cli: typer.Typer, workspace: Path, cron: str, says: str
):
    result = invoke(cli, workspace, "add", cron, "Do something")
    assert result.exit_code == 2
    flat = " ".join(result.output.replace("│", " ").split())  # rich wraps the message in a box
    assert f"Invalid value for 'CRON': {says}" in flat
    assert not (workspace / "schedule.json").exists()


def test_an_unknown_mode_is_a_usage_error(cli: typer.Typer, workspace: Path):
    result = invoke(cli, workspace, "add", "* * * * *", "Do something", "--mode", "fast")
    assert result.exit_code == 2
    assert "'fast' is not one of auto" in result.output


def test_removing_an_unknown_entry_names_it(cli: typer.Typer, workspace: Path):
    result = invoke(cli, workspace, "rm", "s-nope")
    assert isinstance(result.exception, ConfigError)  # main() maps it to exit 2
    assert str(result.exception) == (
        "no recurring task with id 's-nope'; `llmos schedule list` shows the ids"
    )


async def test_list_says_which_goals_follow_a_trace_for_free(cli: typer.Typer, workspace: Path):
    turns = [
        {"tool_calls": [{"name": "Write", "input": {"file_path": "r.txt", "content": "ok\n"}}]},
        {"text": "wrote r.txt"},
    ]
    async with make_llmos(workspace, ScriptedBackend(turns)) as llmos:
        learned = await llmos.execute("Write the daily report to r.txt")
    assert learned.success
    for goal, mode in [
        ("Write the daily report to r.txt", None),
        ("Delete every file in the project", None),
        ("Write the daily report to r.txt", "learner"),
    ]:
        extra = ["--mode", mode] if mode else []
        assert invoke(cli, workspace, "add", "0 7 * * *", goal, *extra).exit_code == 0
    plans = {(e["goal"], e["mode"]): e["plan"] for e in listed(cli, workspace)}
    follows = plans[("Write the daily report to r.txt", None)]
    assert follows["summary"] == f"follows trace {learned.trace_id}, costs nothing"
    assert (follows["decision"], follows["costs_llm_calls"]) == ("follow", False)
    assert plans[("Delete every file in the project", None)]["summary"] == (
        "learns: costs LLM calls"
    )
    assert plans[("Write the daily report to r.txt", "learner")]["summary"] == (
        "learns every run (mode learner): costs LLM calls"
    )
    human = invoke(cli, workspace, "list").stdout
    assert f"follows trace {learned.trace_id}, costs nothing" in human
