"""``llmos projects``, ``llmos agents`` and ``llmos resume`` through CliRunner on a local Typer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llmos.cli import agents, projects
from llmos.cli.resume import resume
from llmos.modes.orchestrator.plan import Plan, Subtask
from llmos.modes.orchestrator.state import OrchestrationState, SubtaskOutcome, save_state
from llmos.projects import Projects
from llmos.workspace import Workspace

app = typer.Typer()
app.add_typer(projects.app, name="projects")
app.add_typer(agents.app, name="agents")
app.command("resume")(resume)


@pytest.fixture
def cli(workspace: Path):
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, [*args, "--workspace", str(workspace)], input=input)

    return invoke


def test_projects_new_list_use_show(cli, workspace: Path):
    made = cli("projects", "new", "site", "--description", "the web site")
    assert made.exit_code == 0, made.output
    assert made.output.startswith("created project site at ")
    assert cli("projects", "new", "site").exit_code != 0  # no overwrite
    cli("projects", "new", "blog")
    assert cli("projects", "use", "site").output == "current project: site\n"
    listed = [json.loads(line) for line in cli("projects", "list", "--json").output.splitlines()]
    assert [(p["name"], p["current"]) for p in listed] == [("blog", False), ("site", True)]
    shown = json.loads(cli("projects", "show", "site", "--json").output)
    assert shown["description"] == "the web site" and shown["traces"] == 0
    for folder in ("agents", "memory/traces", "memory/facts", "state"):
        assert (workspace / "projects" / "site" / folder).is_dir()
    assert Projects(Workspace(workspace)).current().name == "site"
    missing = cli("projects", "use", "nope")
    assert missing.exit_code != 0 and "no project named 'nope'" in str(missing.exception)
    assert cli("projects", "use", "--none").output == "no current project\n"


def test_projects_rm_asks_and_yes_skips_the_question(cli, workspace: Path):
    cli("projects", "new", "old")
    cli("projects", "use", "old")
    kept = cli("projects", "rm", "old", input="n\n")
    assert kept.exit_code == 1 and "Delete project old at" in kept.output
    assert (workspace / "projects" / "old").is_dir()
    gone = cli("projects", "rm", "old", input="y\n")
    assert gone.exit_code == 0 and not (workspace / "projects" / "old").exists()
    assert Projects(Workspace(workspace)).current() is None
    cli("projects", "new", "tmp")
    assert cli("projects", "rm", "tmp", "--yes").output == "removed project tmp\n"


def test_agents_list_show_new_rm_and_project_agents(cli, workspace: Path):
    names = [json.loads(x)["name"] for x in cli("agents", "list", "--json").output.splitlines()]
    assert names == ["coder", "data-analyst", "researcher", "reviewer", "writer"]
    shown = cli("agents", "show", "writer")
    assert shown.exit_code == 0 and "name: writer" in shown.output
    assert cli("agents", "new", "helper").exit_code == 0
    assert (workspace / "agents" / "helper.md").is_file()
    assert cli("agents", "new", "helper").exit_code != 0  # exists; --force to start over
    cli("projects", "new", "site", "--use")
    made = cli("agents", "new", "local")
    assert made.exit_code == 0 and (workspace / "projects/site/agents/local.md").is_file()
    (workspace / "agents" / "broken.md").write_text("no front matter")
    listed = cli("agents", "list", "--json")
    names = [json.loads(x)["name"] for x in listed.stdout.splitlines()]
    assert "local" in names and "helper" in names and "broken" not in names
    assert "skipped" in listed.stderr and "broken.md" in listed.stderr
    assert cli("agents", "rm", "helper").exit_code == 0
    assert not (workspace / "agents" / "helper.md").exists()
    assert cli("agents", "rm", "writer").exit_code != 0  # shipped


def test_resume_command_finishes_a_saved_orchestration(cli, workspace: Path, tmp_path: Path):
    plan = Plan(
        subtasks=(
            Subtask(id="s1", description="Collect facts", agent="researcher"),
            Subtask(id="s2", description="Write notes.md", agent="writer", depends_on=("s1",)),
        )
    )
    state = OrchestrationState(task_id="t-cli", goal="Collect facts, then write notes.md")
    state.set_plan(plan)
    state.record(SubtaskOutcome(id="s1", agent="researcher", status="done", text="Rust: 2015"))
    state.status = "interrupted"
    save_state(workspace / "state", state)
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {
                    "tool_calls": [
                        {"name": "Write", "input": {"file_path": "notes.md", "content": "n"}}
                    ]
                },
                {"text": "notes.md written"},
                {"text": "Notes are in notes.md."},
            ]
        )
    )
    done = cli("resume", "t-cli", "--provider", "scripted", "--script", str(script), "--json")
    assert done.exit_code == 0, done.output
    events = [json.loads(line) for line in done.stdout.splitlines()]
    final = events[-1]
    assert final["kind"] == "task-finished" and final["mode"] == "orchestrator"
    assert final["text"] == "Notes are in notes.md."
    subtask_ids = {e["task_id"] for e in events if e["kind"] == "task-started"} - {"t-cli"}
    assert len(subtask_ids) == 1  # s1 was done before the interrupt; only s2 ran
    assert (workspace.parent / "notes.md").read_text() == "n"
    missing = cli("resume", "t-none", "--provider", "scripted", "--script", str(script))
    assert missing.exit_code != 0
