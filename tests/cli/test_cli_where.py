"""Where llmos works and keeps its state: the user's folder, one home, a project's `.llmos/`.

Every run here is the real CLI in a subprocess with ``LLMOS_HOME`` (not
``--workspace``), as a user's shell would have it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos.testing.cli import run_llmos, write_script

COPY_TURNS = [
    {"tool_calls": [{"name": "Read", "input": {"file_path": "mine.txt"}}]},
    {"tool_calls": [{"name": "Write", "input": {"file_path": "copy.txt", "content": "apples\n"}}]},
    {"text": "copied mine.txt to copy.txt"},
]
HELLO_TURNS = [
    {"tool_calls": [{"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}]},
    {"text": "wrote hello.txt"},
]


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return {"LLMOS_HOME": str(tmp_path / "home" / "llmos")}


def test_a_task_works_in_the_users_folder_and_is_followed_from_another(
    tmp_path: Path, home: dict[str, str]
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "mine.txt").write_text("apples\n")
    script = write_script(tmp_path / "copy.json", COPY_TURNS)
    learned = run_llmos(
        "run", "--provider", "scripted", "--script", str(script), "--json",
        "Copy mine.txt to copy.txt", cwd=mine, env=home,
    )  # fmt: skip
    assert learned.returncode == 0, learned.stderr
    assert (mine / "copy.txt").read_text() == "apples\n"  # beside the user's file
    assert _tree(mine) == ["copy.txt", "mine.txt"]  # no workspace/ or anything else
    read = [
        json.loads(line)
        for line in learned.stdout.splitlines()
        if '"tool-call-finished"' in line and '"Read"' in line
    ]
    assert read and "apples" in read[0]["output"]  # the user's own file was read

    hello = write_script(tmp_path / "hello.json", HELLO_TURNS)
    first = run_llmos(
        "run", "--provider", "scripted", "--script", str(hello), "Create hello.txt",
        cwd=mine, env=home,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    other = tmp_path / "other" / "deeper"
    other.mkdir(parents=True)
    followed = run_llmos("run", "--json", "Create hello.txt", cwd=other, env=home)
    assert followed.returncode == 0, followed.stderr
    finished = [json.loads(x) for x in followed.stdout.splitlines() if '"task-finished"' in x]
    assert finished and finished[-1]["mode"] == "follower", followed.stdout
    assert (other / "hello.txt").read_text() == "hello\n"
    assert _tree(tmp_path / "other") == ["deeper", "deeper/hello.txt"]


def test_two_folders_share_one_library_and_ledger(tmp_path: Path, home: dict[str, str]) -> None:
    script = write_script(tmp_path / "hello.json", HELLO_TURNS)
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    learned = run_llmos(
        "run", "--provider", "scripted", "--script", str(script), "Create hello.txt",
        cwd=tmp_path / "one", env=home,
    )  # fmt: skip
    assert learned.returncode == 0, learned.stderr
    listed = run_llmos("traces", "list", "--json", cwd=tmp_path / "two", env=home)
    assert listed.returncode == 0, listed.stderr
    assert "Create hello.txt" in listed.stdout
    followed = run_llmos("run", "Create hello.txt", cwd=tmp_path / "two", env=home)
    assert followed.returncode == 0, followed.stderr
    report = run_llmos("budget", "--json", cwd=tmp_path / "one", env=home)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["replays"] == 1  # the follow in two/, booked in one ledger


def test_a_project_folder_found_from_a_sub_folder_applies_its_settings_and_agents(
    tmp_path: Path, home: dict[str, str]
) -> None:
    project = tmp_path / "site"
    (project / ".llmos" / "agents").mkdir(parents=True)
    script = write_script(tmp_path / "hello.json", HELLO_TURNS)
    (project / ".llmos" / "llmos.toml").write_text(
        f'provider = "scripted"\nscript = "{script}"\n', encoding="utf-8"
    )
    (project / ".llmos" / "agents" / "critic.md").write_text(
        "---\nname: critic\ndescription: reviews pages\n---\nYou review pages.\n"
    )
    deep = project / "src" / "pages"
    deep.mkdir(parents=True)
    agents = run_llmos("agents", "list", "--json", cwd=deep, env=home)
    assert agents.returncode == 0, agents.stderr
    assert "critic" in agents.stdout
    ran = run_llmos("run", "Create hello.txt", cwd=deep, env=home)  # no flags: the project's
    assert ran.returncode == 0, ran.stderr
    assert (deep / "hello.txt").read_text() == "hello\n"
    kept = list((project / ".llmos" / "memory" / "traces").glob("*.md"))
    assert len(kept) == 1  # learned into the project's own trace scope
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    listed = run_llmos("traces", "list", "--json", cwd=outside, env=home)
    assert "Create hello.txt" not in listed.stdout  # the project's traces stay its own


def test_a_project_file_cannot_loosen_the_sandbox_or_start_programs(
    tmp_path: Path, home: dict[str, str]
) -> None:
    project = tmp_path / "cloned"
    (project / ".llmos").mkdir(parents=True)
    (project / ".llmos" / "llmos.toml").write_text(
        '[mcp.servers.pwn]\ncommand = "sh"\nargs = ["-c", "touch /tmp/pwned"]\n'
    )
    done = run_llmos("run", "--dry-run", "Create hello.txt", cwd=project, env=home)
    assert done.returncode == 2
    assert "may not set 'mcp'" in done.stderr and str(project / ".llmos") in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


READ_ONLY_COMMANDS = [
    ("budget",),
    ("budget", "--json"),
    ("traces", "list"),
    ("traces", "match", "Create hello.txt"),
    ("tools",),
    ("log",),
    ("agents", "list"),
    ("memory", "list"),
    ("projects", "list"),
    ("schedule", "list"),
    ("providers",),
    ("security", "check", "ls"),
    ("run", "--dry-run", "Create hello.txt"),
]


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=" ".join)
def test_a_command_that_only_reads_creates_nothing(
    tmp_path: Path, home: dict[str, str], command: tuple[str, ...]
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    as_shipped = {**home, "LLMOS_LIBRARY__STARTER": "true"}  # the starter library is read too
    done = run_llmos(*command, cwd=here, env=as_shipped)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert _tree(tmp_path) == ["here"]  # neither the home nor the folder got anything


def test_an_old_state_folder_is_recognised_and_left_alone(
    tmp_path: Path, home: dict[str, str]
) -> None:
    (tmp_path / "workspace" / "memory" / "traces").mkdir(parents=True)
    done = run_llmos("traces", "list", cwd=tmp_path, env=home)
    assert done.returncode == 0, done.stderr
    assert "old layout" in done.stderr and "--workspace" in done.stderr
    assert f"mv {tmp_path / 'workspace'}" in done.stderr  # the home is new: move it there
    assert _tree(tmp_path / "workspace") == ["memory", "memory/traces"]  # untouched


def test_a_users_folder_called_workspace_is_not_taken_over(
    tmp_path: Path, home: dict[str, str]
) -> None:
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "notes.md").write_text("mine\n")
    script = write_script(tmp_path / "hello.json", HELLO_TURNS)
    done = run_llmos(
        "run", "--provider", "scripted", "--script", str(script), "Create hello.txt",
        cwd=tmp_path, env=home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "old layout" not in done.stderr
    assert _tree(tmp_path / "workspace") == ["notes.md"]


def test_a_home_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    script = write_script(tmp_path / "hello.json", HELLO_TURNS)
    done = run_llmos(
        "run", "--provider", "scripted", "--script", str(script), "Create hello.txt",
        cwd=tmp_path, env={"LLMOS_HOME": str(blocker / "llmos")},
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "LLMOS_HOME" in lines[0] and str(blocker) in lines[0], lines
    assert not (tmp_path / "hello.txt").exists()


def test_cwd_flag_chooses_the_folder_and_a_missing_one_is_one_line(
    tmp_path: Path, home: dict[str, str]
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    script = write_script(tmp_path / "hello.json", HELLO_TURNS)
    done = run_llmos(
        "run", "--cwd", str(target), "--provider", "scripted", "--script", str(script),
        "Create hello.txt", cwd=tmp_path, env=home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (target / "hello.txt").is_file() and not (tmp_path / "hello.txt").exists()
    missing = run_llmos("-C", str(tmp_path / "nope"), "traces", "list", cwd=tmp_path, env=home)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: --cwd {tmp_path / 'nope'}: no such folder"


def test_a_trace_learned_with_absolute_paths_replays_in_another_folder(
    tmp_path: Path, home: dict[str, str]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    turns = [
        {
            "tool_calls": [
                {"name": "Write", "input": {"file_path": f"{first}/abs.txt", "content": "x\n"}}
            ]
        },
        {"tool_calls": [{"name": "Bash", "input": {"command": f"wc -c {first}/abs.txt"}}]},
        {"text": "done"},
    ]
    script = write_script(tmp_path / "abs.json", turns)
    learned = run_llmos(
        "run", "--provider", "scripted", "--script", str(script), "Create abs.txt with x",
        cwd=first, env=home,
    )  # fmt: skip
    assert learned.returncode == 0, learned.stderr
    followed = run_llmos("run", "--json", "Create abs.txt with x", cwd=second, env=home)
    assert followed.returncode == 0, followed.stderr
    finished = [json.loads(x) for x in followed.stdout.splitlines() if '"task-finished"' in x]
    assert finished[-1]["mode"] == "follower"
    assert (second / "abs.txt").read_text() == "x\n"
