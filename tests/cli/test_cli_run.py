"""`llmos run` end to end, in a subprocess, as a user would call it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmos.cli.app import main
from llmos.events import event_from_json
from llmos.testing.cli import STARTER_SWITCH, run_llmos, sleeper_script, start_llmos
from llmos.testing.processes import wait_until_gone

HELLO_SCRIPT = [
    {
        "text": "I will create the file.",
        "tool_calls": [
            {"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}
        ],
    },
    {"tool_calls": [{"name": "Bash", "input": {"command": "cat hello.txt && echo checked"}}]},
    {"text": "Created hello.txt."},
]


def llmos(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_llmos(*args, cwd=cwd, env=env, stdin=stdin)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "hello.json"
    path.write_text(json.dumps(HELLO_SCRIPT))
    return path


def test_run_writes_the_file_runs_the_command_and_streams_both(tmp_path: Path, script: Path):
    done = llmos(
        "run",
        "--provider",
        "scripted",
        "--script",
        str(script),
        "--workspace",
        "ws",
        "Create hello.txt",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "hello.txt").read_text() == "hello\n"
    assert done.stdout == "Created hello.txt.\n"  # not a terminal: stdout is the answer only
    assert "Write hello.txt" in done.stderr and "Bash cat hello.txt && echo checked" in done.stderr
    assert "done in" in done.stderr


def test_json_output_is_one_event_per_line_and_nothing_else(tmp_path: Path, script: Path):
    done = llmos(
        "run",
        "--json",
        "--provider",
        "scripted",
        "--script",
        str(script),
        "Create hello.txt",
        cwd=tmp_path,
        env={"LLMOS_WORKSPACE": str(tmp_path / "w")},
    )
    assert done.returncode == 0, done.stderr
    events = [event_from_json(line) for line in done.stdout.splitlines()]
    kinds = [e.kind for e in events]
    assert kinds[0] == "task-started" and kinds[-1] == "task-finished"
    assert kinds.count("tool-call-started") == 2 and kinds.count("tool-call-finished") == 2
    bash_done = next(e for e in events if e.kind == "tool-call-finished" and e.tool == "Bash")
    assert bash_done.exit_code == 0 and "hello\nchecked" in bash_done.output
    assert (tmp_path / "hello.txt").exists()


def test_a_failed_task_exits_1_and_says_why(tmp_path: Path):
    short = tmp_path / "short.json"
    short.write_text(json.dumps(HELLO_SCRIPT[:1]))
    done = llmos(
        "run", "--provider", "scripted", "--script", str(short), "Create hello.txt", cwd=tmp_path
    )
    assert done.returncode == 1
    assert "has 1 turn(s)" in done.stderr and "has 1 turn(s)" not in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--mode", "fast", "x"], "--mode 'fast' is not one of"),
        (["run", "--provider", "scripted", "x"], "the scripted provider needs a script"),
        (["run", "--provider", "scripted", "--script", "missing.json", "x"], "does not exist"),
        (["run", "--bogus", "x"], "No such option"),
        (["run", "  "], "the goal is empty"),
    ],
)
def test_usage_errors_exit_2_with_a_one_line_error(tmp_path: Path, args, message):
    done = llmos(*args, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_config_file_exits_2_naming_the_key(tmp_path: Path, script: Path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "llmos.toml").write_text("[learner]\nmax_turn = 3\n")
    done = llmos(
        "run", "-w", "ws", "--provider", "scripted", "--script", str(script), "x", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "unknown setting 'learner.max_turn'" in done.stderr


def test_escape_attempt_fails_in_the_tool_result_and_touches_nothing(tmp_path: Path):
    attack = tmp_path / "attack.json"
    attack.write_text(
        json.dumps(
            [
                {
                    "tool_calls": [
                        {"name": "Write", "input": {"file_path": "../outside.txt", "content": "x"}},
                        {
                            "name": "Write",
                            "input": {"file_path": str(tmp_path / "abs.txt"), "content": "x"},
                        },
                    ]
                },
                {"text": "could not"},
            ]
        )
    )
    inside = tmp_path / "ws" / "work"
    inside.mkdir(parents=True)
    done = llmos(
        "run",
        "--json",
        "--provider",
        "scripted",
        "--script",
        str(attack),
        "escape",
        cwd=inside,  # the working folder lies in the state folder: ../ is llmos's state
        env={"LLMOS_WORKSPACE": str(tmp_path / "ws")},
    )
    assert done.returncode == 1  # every step was refused: the run did nothing
    assert "error: the task failed (policy): every step of the run failed (2)" in done.stderr
    finished = [
        json.loads(line)
        for line in done.stdout.splitlines()
        if json.loads(line)["kind"] == "tool-call-finished"
    ]
    assert [f["is_error"] for f in finished] == [True, True]
    assert "llmos's own state" in finished[0]["output"]  # ws/outside.txt: in the workspace
    assert "outside the working directory" in finished[1]["output"]
    assert not (tmp_path / "ws" / "outside.txt").exists()
    assert not (tmp_path / "abs.txt").exists()


def test_version_and_help(tmp_path: Path):
    assert main(["--version"]) == 0
    done = llmos("--help", cwd=tmp_path)
    assert done.returncode == 0 and "run" in done.stdout and "shell" in done.stdout
    assert llmos("run", "--help", cwd=tmp_path).returncode == 0


def test_boot_py_runs_a_goal_and_the_shell(tmp_path: Path, script: Path):
    boot = Path(__file__).resolve().parents[2] / "boot.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOS_") or k == STARTER_SWITCH}
    env["LLMOS_WORKSPACE"] = str(tmp_path / "ws")
    done = subprocess.run(
        [
            sys.executable,
            str(boot),
            "--provider",
            "scripted",
            "--script",
            str(script),
            "Create hello.txt",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "hello.txt").exists()
    shell = subprocess.run(
        [
            sys.executable,
            str(boot),
            "interactive",
            "--provider",
            "scripted",
            "--script",
            str(script),
        ],
        cwd=tmp_path,
        env=env,
        input="/help\nCreate hello.txt\n/exit\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shell.returncode == 0, shell.stderr
    assert "/mode" in shell.stdout and "Created hello.txt." in shell.stdout


def test_traces_verify_and_dry_run_from_the_cli(tmp_path: Path, script: Path):
    env = {"LLMOS_WORKSPACE": str(tmp_path / "ws")}
    learn = llmos(
        "run",
        "--provider",
        "scripted",
        "--script",
        str(script),
        "Create hello.txt",
        cwd=tmp_path,
        env=env,
    )
    assert learn.returncode == 0, learn.stderr
    dry = llmos("run", "--dry-run", "--json", "create hello.txt", cwd=tmp_path, env=env)
    plan = json.loads(dry.stdout)
    assert plan["decision"] == "follow" and [s["tool"] for s in plan["steps"]] == ["Write", "Bash"]
    (tmp_path / "hello.txt").unlink()
    assert not (tmp_path / "hello.txt").exists()  # dry run ran nothing
    verified = llmos("traces", "verify", "--json", cwd=tmp_path, env=env)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["holds"] is True


def test_ctrl_c_cancels_the_run_cleanly_and_kills_its_commands(tmp_path: Path):
    sleeper = sleeper_script(tmp_path / "sleep.json")
    process = start_llmos(
        "run",
        "--provider",
        "scripted",
        "--script",
        str(sleeper),
        "Sleep a while",
        cwd=tmp_path,
        workspace=tmp_path / "ws",
        env={"LLMOS_TOOLS__SANDBOX": "false"},
        merge_stderr=True,
    )
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() - started < 240, "the Bash step never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=240)
    assert process.returncode == 130, output
    assert "✗ cancelled" in output and "failed after" in output
    child = int(pid_file.read_text())
    assert asyncio.run(wait_until_gone(child)), f"the Bash child {child} outlived the cancelled run"
