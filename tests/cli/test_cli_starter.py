"""The README's main command on a fresh machine: followed from the starter library, offline.

No key, no provider named, a fresh state folder: the goal is one of the starter
traces with other values, so it is followed (never learned) at $0 and makes
exactly the file it names with the content it names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from llmos.testing.cli import run_llmos

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_goal() -> str:
    """The goal of the README's first command (``./install.sh && .venv/bin/llmos run "…"``)."""
    found = re.search(
        r'^\./install\.sh && \.venv/bin/llmos run "([^"]+)"$', README.read_text(), re.M
    )
    assert found is not None, 'the README\'s main command is not `./install.sh && … run "GOAL"`'
    return found.group(1)


@pytest.fixture
def default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings of a fresh machine: the suite's switch-off of the starter library undone."""
    monkeypatch.delenv("LLMOS_LIBRARY__STARTER")


@pytest.mark.usefixtures("default_settings")
def test_the_readme_command_is_followed_from_the_starter_library(tmp_path: Path) -> None:
    goal = readme_goal()
    assert goal == "Create a file hello.txt that says hello"
    here = tmp_path / "here"
    here.mkdir()
    done = run_llmos("run", goal, cwd=here, workspace=tmp_path / "state")
    assert done.returncode == 0, done.stderr
    told = done.stdout + done.stderr  # progress may go to either stream
    assert (
        "  mode follower · trace starter-file-says · from the starter library · confidence 0.95"
    ) in told.splitlines()
    assert "· follower · $0.0000 · trace starter-file-says (starter library)" in told
    assert "provider" not in told  # no model was chosen, so none was loaded
    [made] = tmp_path.rglob("hello.txt")  # wherever the task's working directory is
    assert made.read_bytes() == b"hello\n"
    assert not list(tmp_path.rglob("greeting.txt"))  # the recorded value is not what it made


@pytest.mark.usefixtures("default_settings")
def test_a_followed_starter_run_says_so_in_its_events_and_counts_only_in_the_users_state(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    done = run_llmos("run", "--json", readme_goal(), cwd=tmp_path, workspace=state)
    assert done.returncode == 0, done.stderr
    events = {event["kind"]: event for event in map(json.loads, done.stdout.splitlines())}
    chosen, finished = events["mode-chosen"], events["task-finished"]
    assert (chosen["mode"], chosen["library"], chosen["backend"]) == ("follower", "starter", None)
    assert (finished["library"], finished["cost_usd"], finished["status"]) == (
        "starter",
        0.0,
        "success",
    )
    # The signature's verdict is cached per digest: a later follow never imports cryptography.
    again = run_llmos(
        "run", "-q", "Create a file bye.txt that says hello", cwd=tmp_path, workspace=state,
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "| llmos.memory.starter" in again.stderr  # the import trace is there
    assert "cryptography" not in again.stderr
    listed = run_llmos("traces", "list", "--json", cwd=tmp_path, workspace=state)
    rows = {row["id"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert {row["library"] for row in rows.values()} == {"starter"}
    assert rows["starter-file-says"]["uses"] == 2
    removed = run_llmos("traces", "rm", "starter-file-says", cwd=tmp_path, workspace=state)
    assert removed.returncode == 2 and "read-only" in removed.stderr  # refused before asking


@pytest.mark.usefixtures("default_settings")
def test_the_setting_switches_the_starter_library_off_for_match_run_and_list(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    (state).mkdir()
    (state / "llmos.toml").write_text("[library]\nstarter = false\n")
    goal = readme_goal()
    matched = run_llmos("traces", "match", "--json", goal, cwd=tmp_path, workspace=state)
    assert json.loads(matched.stdout)["decision"] == "learn"
    listed = run_llmos("traces", "list", "--json", cwd=tmp_path, workspace=state)
    assert (listed.returncode, listed.stdout) == (0, "")
    script = tmp_path / "s.json"
    script.write_text(json.dumps([{"text": "I will not."}]))
    ran = run_llmos(
        "run", "--json", "--provider", "scripted", "--script", str(script), goal,
        cwd=tmp_path, workspace=state,
    )  # fmt: skip
    chosen = next(e for e in map(json.loads, ran.stdout.splitlines()) if e["kind"] == "mode-chosen")
    assert (chosen["mode"], chosen["library"]) == ("learner", None)
