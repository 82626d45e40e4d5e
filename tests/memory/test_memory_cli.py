"""``llmos traces``: list, show, rm, match, reindex, export and import through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from memory_helpers import calculator_trace
from typer.testing import CliRunner

from llmos.cli import traces
from llmos.errors import TraceNotFound
from llmos.memory import Trace, TraceStore, render_trace


@pytest.fixture
def cli() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """A stand-in for the llmos app."""

    root.add_typer(traces.app, name="traces")
    return root


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def saved(store: TraceStore) -> Trace:
    return store.save(calculator_trace())


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines()]


def test_list_json_prints_one_object_per_trace(
    cli: typer.Typer, runner: CliRunner, store: TraceStore, saved: Trace
) -> None:
    store.record_use(saved.id, success=True, saved_usd=0.031)
    store.record_use(saved.id, success=False)
    result = runner.invoke(cli, ["traces", "list", "--json"])
    assert result.exit_code == 0, result.output
    [row] = _lines(result.stdout)
    assert row["id"] == saved.id and row["goal"] == saved.goal
    assert (row["uses"], row["success_rate"], row["saved_usd"]) == (2, 0.5, 0.031)
    assert row["last_used"] is not None


def test_list_reports_a_broken_file_and_still_lists_the_others(
    cli: typer.Typer, runner: CliRunner, store: TraceStore, saved: Trace
) -> None:
    (store.root / "broken.md").write_text("---\nid: [\n---\n")
    result = runner.invoke(cli, ["traces", "list"])
    assert result.exit_code == 0
    assert "skipped:" in result.stderr and "broken.md" in result.stderr
    assert saved.id in result.stdout and "calculator" in result.stdout


def test_show_renders_a_trace_and_raw_prints_the_file(
    cli: typer.Typer, runner: CliRunner, store: TraceStore, saved: Trace
) -> None:
    shown = runner.invoke(cli, ["traces", "show", saved.id[:5]])
    assert shown.exit_code == 0
    assert "Step 1 · Write" in shown.stdout and "python3 calc.py" in shown.stdout
    raw = runner.invoke(cli, ["traces", "show", "--raw", saved.id])
    assert raw.stdout == (store.root / f"{saved.id}.md").read_text()
    missing = runner.invoke(cli, ["traces", "show", "nope"])
    assert isinstance(missing.exception, TraceNotFound)


def test_rm_asks_first_unless_told_yes(
    cli: typer.Typer, runner: CliRunner, store: TraceStore, saved: Trace
) -> None:
    kept = runner.invoke(cli, ["traces", "rm", saved.id], input="n\n")
    assert kept.exit_code == 1 and (store.root / f"{saved.id}.md").exists()
    gone = runner.invoke(cli, ["traces", "rm", "--yes", saved.id])
    assert gone.exit_code == 0 and not (store.root / f"{saved.id}.md").exists()


def test_match_json_reads_goals_from_arguments_and_stdin(
    cli: typer.Typer, runner: CliRunner, saved: Trace
) -> None:
    result = runner.invoke(
        cli,
        ["traces", "match", "--json", "create a python calculator in calc.py", "-"],
        input="Create a Python calculator in calculator.py\n\nWrite a haiku about rain\n",
    )
    assert result.exit_code == 0, result.output
    rows = _lines(result.stdout)
    assert [(r["decision"], r["trace_id"], r["confidence"]) for r in rows] == [
        ("follow", saved.id, 1.0),
        ("follow", saved.id, 0.95),
        ("learn", None, rows[2]["confidence"]),
    ]
    assert rows[1]["bindings"] == {"path1": "calculator.py"}
    assert rows[1]["steps"][1] == {"tool": "Bash", "input": {"command": "python3 calculator.py"}}
    assert rows[0]["trace_goal"] == saved.goal


def test_match_for_people_shows_the_decision_and_the_steps(
    cli: typer.Typer, runner: CliRunner, saved: Trace
) -> None:
    result = runner.invoke(cli, ["traces", "match", "Create a Python calculator in c.py"])
    assert result.exit_code == 0
    assert f"follow · trace {saved.id} · confidence 0.95" in result.stdout
    assert "▸ Bash python3 c.py" in result.stdout


def test_match_obeys_the_follow_threshold_setting(
    cli: typer.Typer, runner: CliRunner, saved: Trace, workspace: Path
) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "llmos.toml").write_text("[follower]\nfollow_threshold = 0.97\n")
    result = runner.invoke(cli, ["traces", "match", "--json", "Create a Python calculator in c.py"])
    assert _lines(result.stdout)[0]["decision"] == "guide"


def test_reindex_export_and_import(
    cli: typer.Typer, runner: CliRunner, store: TraceStore, saved: Trace, tmp_path: Path
) -> None:
    reindexed = runner.invoke(cli, ["traces", "reindex"])
    assert reindexed.exit_code == 0 and "indexed 1 traces" in reindexed.stderr
    archive = tmp_path / "share.tar.gz"
    exported = runner.invoke(cli, ["traces", "export", str(archive)])
    assert exported.exit_code == 0 and archive.exists()
    other = tmp_path / "other"
    imported = runner.invoke(cli, ["traces", "import", str(archive), "--workspace", str(other)])
    assert imported.exit_code == 0 and "imported 1 traces as untrusted" in imported.stderr
    copy = (other / "memory" / "traces" / f"{saved.id}.md").read_text()
    assert copy == render_trace(TraceStore.for_memory(other / "memory").load(saved.id))
    assert "status: untrusted" in copy
