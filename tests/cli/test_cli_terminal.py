"""Control sequences in goals and answers are shown, never sent raw to the terminal.

A goal can come from anyone (an imported trace, a pasted task): printed raw, an
escape sequence in it retitles the window or hides text. Every command that
prints for people writes such characters out (``\\x1b``) instead.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from llmos.cli.terminal import visible
from llmos.memory import Trace, TraceStore
from llmos.testing.cli import CLI_TIMEOUT_S, cli_env, llmos_argv, run_llmos, write_script

TITLE = "\x1b]0;pwned\x07"
GOAL = f"Create hello.txt {TITLE}now"
RAW = ("\x1b", "\x07", "\x9b")


def llmos(*args: str, workspace: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_llmos(*args, cwd=cwd, workspace=workspace, env={"COLUMNS": "300", "NO_COLOR": "1"})


def assert_shown(done: subprocess.CompletedProcess[str], shown: str = "\\x1b]0;pwned\\x07") -> None:
    assert done.returncode == 0, done.stderr
    for raw in RAW:
        assert raw not in done.stdout and raw not in done.stderr
    assert shown in done.stdout


def test_traces_list_log_and_run_show_control_sequences(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    answer = "done \x1b[2J\x9b31m"
    write = {"name": "Write", "input": {"file_path": "hello.txt", "content": "x"}}
    script = write_script(tmp_path / "script.json", [{"tool_calls": [write]}, {"text": answer}])
    ran = llmos(
        "run",
        "--provider",
        "scripted",
        "--script",
        str(script),
        GOAL,
        workspace=workspace,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    for raw in RAW:
        assert raw not in ran.stdout
    assert "done \\x1b[2J\\x9b31m" in ran.stdout

    assert_shown(llmos("traces", "list", workspace=workspace, cwd=tmp_path))
    assert_shown(llmos("log", workspace=workspace, cwd=tmp_path))
    task_id = json.loads(
        llmos("log", "--json", workspace=workspace, cwd=tmp_path).stdout.splitlines()[0]
    )["task_id"]
    assert_shown(llmos("log", task_id, workspace=workspace, cwd=tmp_path))
    assert_shown(llmos("traces", "match", GOAL, workspace=workspace, cwd=tmp_path))


def test_an_imported_trace_with_a_hostile_goal_is_listed_and_shown_safely(tmp_path: Path) -> None:
    shared = TraceStore(tmp_path / "shared" / "traces", tmp_path / "shared" / "index.sqlite")
    trace = shared.save(Trace(goal=f"List files {TITLE}", backend="scripted"))
    workspace = tmp_path / "ws"
    imported = llmos("traces", "import", str(shared.root), workspace=workspace, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert_shown(llmos("traces", "list", workspace=workspace, cwd=tmp_path))
    # YAML writes the goal with its own escapes (\e, \a): still nothing raw
    shown = llmos("traces", "show", trace.id, workspace=workspace, cwd=tmp_path)
    assert_shown(shown, "pwned")


def test_visible_keeps_text_and_writes_out_what_a_terminal_would_obey() -> None:
    assert visible("a\tb\nc\r\nd") == "a\tb\nc\nd"
    assert visible("x\ry") == "x\\x0dy"
    assert visible("evil\u202egnp.exe") == "evil\\u202egnp.exe"
    assert visible("lone \udcff") == "lone \\udcff"
    assert visible("café ✓ 中文") == "café ✓ 中文"


def test_a_goal_that_is_not_utf8_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """A Latin-1 terminal sends b"caf\\xe9": Python hands it on as a lone surrogate."""
    workspace = tmp_path / "ws"
    write = {"name": "Write", "input": {"file_path": "hello.txt", "content": "x"}}
    script = write_script(tmp_path / "script.json", [{"tool_calls": [write]}, {"text": "done"}])
    done = subprocess.run(  # bytes out too: what a Latin-1 terminal would be shown
        llmos_argv("run", "--provider", "scripted", "--script", str(script), b"Create caf\xe9.txt"),
        cwd=tmp_path,
        env=cli_env(workspace, {"LC_ALL": "C.UTF-8"}),
        capture_output=True,
        timeout=CLI_TIMEOUT_S,
    )
    assert done.returncode == 2, done.stderr
    stderr = done.stderr.decode()
    assert "the goal is not valid Unicode text" in stderr and "0xe9" in stderr
    assert "Traceback" not in stderr
    assert not (workspace.parent / "h.txt").exists()
