"""File names that are not UTF-8 never break a store or a protocol (issue 15, point 1).

A file named with a Latin-1 byte (``b"caf\\xe9.txt"``) reaches Python as
``"caf\\udce9.txt"``, which no UTF-8 file, JSON line or SQLite row can hold.
Tool results escape it as ``caf\\xe9.txt`` where they are made, so the run's
events, its trace and the session log all carry it, and read back.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from llmos.memory.trace_format import read_trace
from llmos.testing.cli import run_llmos
from llmos.text import restore_surrogates

ESCAPED = "caf\\xe9.txt"  # what every store shows: the byte, written as Python escapes it

SCRIPT = [
    {"tool_calls": [{"name": "LS", "input": {"path": "."}}]},
    {"tool_calls": [{"name": "Glob", "input": {"pattern": "*.txt"}}]},
    {"tool_calls": [{"name": "Grep", "input": {"pattern": "hello"}}]},
    {"tool_calls": [{"name": "Bash", "input": {"command": "ls"}}]},
    {"text": "Listed the files."},
]


def llmos(*args: str, cwd: Path, workspace: Path) -> subprocess.CompletedProcess[str]:
    return run_llmos(*args, cwd=cwd, workspace=workspace)


def test_a_latin1_file_name_is_escaped_in_events_trace_and_session_log(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.parent.mkdir(parents=True, exist_ok=True)  # the default project's working folder
    (workspace.parent / os.fsdecode(b"caf\xe9.txt")).write_text("hello world\n")
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))

    run = llmos(
        "run", "--provider", "scripted", "--script", str(script), "--json", "List the files here",
        cwd=tmp_path, workspace=workspace,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "failed on the" not in run.stderr, run.stderr  # no subscriber broke
    events = [json.loads(line) for line in run.stdout.splitlines()]
    finished = {e["tool"]: e["output"] for e in events if e["kind"] == "tool-call-finished"}
    assert set(finished) == {"LS", "Glob", "Grep", "Bash"}, run.stderr
    for tool in ("LS", "Glob", "Grep", "Bash"):
        assert ESCAPED in finished[tool], (tool, finished[tool])
    (trace_id,) = {e["trace_id"] for e in events if e["kind"] == "task-finished"}
    (task_id,) = {e["task_id"] for e in events if e["kind"] == "task-finished"}

    listed = llmos("traces", "list", "--json", cwd=tmp_path, workspace=workspace)
    assert listed.returncode == 0, listed.stderr
    assert trace_id in listed.stdout
    shown = llmos("traces", "show", trace_id, cwd=tmp_path, workspace=workspace)
    assert shown.returncode == 0, shown.stderr
    assert ESCAPED in shown.stdout

    log = llmos("log", task_id, "--json", cwd=tmp_path, workspace=workspace)
    assert log.returncode == 0, log.stderr
    logged = [json.loads(line) for line in log.stdout.splitlines()]
    outputs = [e.get("output", "") for e in logged if e.get("kind") == "tool-call-finished"]
    assert len(outputs) == 4, log.stdout[-2000:]
    assert sum(ESCAPED in output for output in outputs) == 4
    assert llmos("log", cwd=tmp_path, workspace=workspace).returncode == 0


LATIN1 = "café = 'naïve' C:\\dir\n".encode("latin-1")
PRINTED = b"\xff\\x\xe9"  # not UTF-8, with a backslash that looks like an escape
BYTES_SCRIPT = [
    {"tool_calls": [{"name": "Read", "input": {"file_path": "latin.txt"}}]},
    {"tool_calls": [{"name": "Bash", "input": {"command": "printf '\\377\\\\x\\351'"}}]},
    {"text": "Read the file."},
]


def test_non_utf8_output_is_kept_losslessly_in_events_trace_and_replay(tmp_path: Path) -> None:
    """Issue 15: Bash and Read output that is not UTF-8 is escaped, never replaced.

    The saved trace gives the exact bytes back, and a replay of the Read
    reproduces its output (its digest is checked).
    """
    workspace = tmp_path / "ws"
    workspace.parent.mkdir(parents=True, exist_ok=True)
    (workspace.parent / "latin.txt").write_bytes(LATIN1)
    script = tmp_path / "script.json"
    script.write_text(json.dumps(BYTES_SCRIPT))
    goal = "Read latin.txt and print some bytes"

    run = llmos(
        "run", "--provider", "scripted", "--script", str(script), "--json", goal,
        cwd=tmp_path, workspace=workspace,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    finished = {e["tool"]: e["output"] for e in events if e["kind"] == "tool-call-finished"}
    assert finished["Read"].startswith("     1\tcaf\\xe9 = 'na\\xefve' C:\\\\dir\n"), finished
    assert finished["Bash"].startswith("\\xff\\\\x\\xe9\n[the output is not valid UTF-8"), finished
    (trace_id,) = {e["trace_id"] for e in events if e["kind"] == "task-finished"}

    (trace_file,) = (workspace / "memory" / "traces").glob(f"*{trace_id}*")
    trace = read_trace(trace_file)
    read, bash = trace.steps
    shown = read.output.split("\n\n(The file is")[0].partition("\t")[2]
    assert restore_surrogates(shown).encode("utf-8", "surrogateescape") == LATIN1.rstrip(b"\n")
    printed = bash.output.split("\n[the output is")[0]
    assert restore_surrogates(printed).encode("utf-8", "surrogateescape") == PRINTED

    again = llmos("run", "--json", goal, cwd=tmp_path, workspace=workspace)
    assert again.returncode == 0, again.stderr
    kinds = [json.loads(line) for line in again.stdout.splitlines()]
    assert [e["mode"] for e in kinds if e["kind"] == "mode-chosen"] == ["follower"], again.stdout
