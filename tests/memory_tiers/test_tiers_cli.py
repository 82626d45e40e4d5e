"""``llmos memory`` and ``llmos log`` through typer's CliRunner, over real workspaces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from tiers_helpers import WRITE_HELLO, every_kind, scripted_llmos
from typer.testing import CliRunner

from llmos.cli.log import log_command
from llmos.cli.memory import app as memory_app
from llmos.errors import ConfigError
from llmos.events import event_from_json
from llmos.memory.facts import FactNotFound, FactStore
from llmos.memory.session_log import SessionLog

runner = CliRunner()
log_app = typer.Typer(add_completion=False)
log_app.command("log")(log_command)


def memory(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(memory_app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_memory_add_list_search_rm(workspace: Path) -> None:
    code, out, _ = memory("add", "The tests run with pytest -q", "--tag", "python", "-t", "ci")
    assert code == 0 and out.startswith("added f-")
    fact_id = out.split()[1]
    memory("add", "Deploys go through make deploy")

    code, out, _ = memory("list", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in rows] == [
        "The tests run with pytest -q",
        "Deploys go through make deploy",
    ]
    assert rows[0]["id"] == fact_id and rows[0]["tags"] == ["python", "ci"]
    assert rows[0]["source"] == "user"

    code, out, _ = memory("search", "how do I run the tests", "--json")
    [hit] = [json.loads(line) for line in out.splitlines()]
    assert hit["id"] == fact_id and hit["score"] > 0

    code, out, _ = memory("search", "tests")
    assert code == 0 and fact_id in out and "pytest -q" in out

    code, out, _ = memory("rm", fact_id[:6])
    assert out == f"removed {fact_id}: The tests run with pytest -q\n"
    assert [f.text for f in FactStore.for_memory(workspace / "memory").list()] == [
        "Deploys go through make deploy"
    ]
    with pytest.raises(FactNotFound, match="llmos memory list"):
        memory("rm", fact_id)


def test_memory_reports_a_corrupt_file_on_stderr_and_lists_the_rest(workspace: Path) -> None:
    memory("add", "Logs rotate daily")
    broken = workspace / "memory" / "facts" / "f-0000abcd.md"
    broken.write_text("no front matter\n", encoding="utf-8")
    code, out, err = memory("list")
    assert code == 0 and "Logs rotate daily" in out
    assert f"skipped: {broken}: does not start with a '---' front matter line" in " ".join(
        err.split()
    )


def test_memory_empty_states(workspace: Path) -> None:
    assert "no facts yet" in memory("list")[2]
    assert memory("search", "anything")[2].startswith("no fact matches 'anything'")
    with pytest.raises(ConfigError, match="the fact is empty"):
        memory("add", "  ")


async def test_log_lists_recent_tasks_and_shows_one_from_a_real_run(workspace: Path) -> None:
    llmos, _ = scripted_llmos(workspace, WRITE_HELLO)
    async with llmos:  # the API writes the session log itself
        result = await llmos.execute("Write a greeting to hello.txt")

    listed = runner.invoke(log_app, ["--json"])
    assert listed.exit_code == 0, listed.output
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["task_id"], row["status"], row["mode"]) == (result.task_id, "done", "learner")
    assert row["goal"] == "Write a greeting to hello.txt" and row["trace_id"] == result.trace_id

    table = runner.invoke(log_app, [])
    assert result.task_id in table.stdout and "done" in table.stdout

    shown = runner.invoke(log_app, [result.task_id[:5]])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert f"{result.task_id} started (auto): Write a greeting to hello.txt" in lines[0]
    assert any("▸ call Write hello.txt" in line for line in lines)
    assert any("✓ Write" in line for line in lines)
    assert any("hello.txt is written." in line for line in lines)  # streamed text, joined
    assert "done in" in lines[-1]

    raw = runner.invoke(log_app, [result.task_id, "--json"])
    events = [event_from_json(line) for line in raw.stdout.splitlines()]
    assert events[0].kind == "task-started" and events[-1].kind == "task-finished"
    assert raw.stdout.splitlines() == llmos.session_log.path.read_text().splitlines()


def test_log_notes_a_torn_line_and_refuses_an_unknown_task(workspace: Path) -> None:
    log = SessionLog(workspace / "memory" / "sessions")
    for event in every_kind("t-aaaa1"):
        log(event)
    log(every_kind("t-aaaa2")[0])
    log.close()
    with log.path.open("ab") as handle:
        handle.write(b'{"task_id": "t-aaa')
    shown = runner.invoke(log_app, ["t-aaaa1"])
    assert shown.exit_code == 0
    assert "torn last line" in shown.stderr
    ambiguous = runner.invoke(log_app, ["t-aaaa"])
    assert isinstance(ambiguous.exception, ConfigError)
    assert "matches several tasks: t-aaaa1, t-aaaa2" in str(ambiguous.exception)
    missing = runner.invoke(log_app, ["t-zzz"])
    assert isinstance(missing.exception, ConfigError)
    assert "no task with id or id prefix 't-zzz'" in str(missing.exception)


def test_log_with_no_tasks_says_so(workspace: Path) -> None:
    result = runner.invoke(log_app, [])
    assert result.exit_code == 0 and "no tasks in the session log yet" in result.stderr
