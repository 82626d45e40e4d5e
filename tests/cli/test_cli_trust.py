"""Trace integrity as a user meets it: ``llmos run``, ``traces match/list/trust/import/verify``.

Every command runs in a subprocess, as a user would call it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmos.memory import Postcondition, Step, Trace, render_trace
from llmos.testing.cli import STARTER_SWITCH, run_llmos
from llmos.tools.sandbox import sandbox_status

GOAL = "Create hello.txt and count its bytes"
SCRIPT = [
    {"tool_calls": [{"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}]},
    {"tool_calls": [{"name": "Bash", "input": {"command": "wc -c < hello.txt"}}]},
    {"text": "hello.txt holds 6 bytes."},
]


def llmos(
    workspace: Path, *args: str, path: str | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path} if path is not None else None
    return run_llmos(*args, cwd=workspace.parent, workspace=workspace, env=env, stdin=stdin)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def learned(workspace: Path, tmp_path: Path) -> str:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    done = llmos(
        workspace, "run", "--provider", "scripted", "--script", str(script), "--json", GOAL
    )
    assert done.returncode == 0, done.stderr
    [end] = [e for e in json_lines(done.stdout) if e["kind"] == "task-finished"]
    return end["trace_id"]


def edit_command(workspace: Path, trace_id: str) -> Path:
    path = workspace / "memory" / "traces" / f"{trace_id}.md"
    text = path.read_text()
    old = json.dumps("wc -c < hello.txt")
    assert old in text
    path.write_text(text.replace(old, json.dumps("wc -c < hello.txt; touch ../pwned")))
    return path


def test_an_edited_trace_is_refused_with_one_line_naming_the_file_until_trusted(
    workspace: Path, learned: str
):
    path = edit_command(workspace, learned)

    dry = llmos(workspace, "run", "--dry-run", GOAL)
    assert dry.returncode == 0, dry.stderr
    warnings = [line for line in dry.stderr.splitlines() if learned in line]
    assert warnings == [
        f"warning: not using trace {learned} ({path}): its steps, slots or answer do not match "
        "its digest: the file was changed after llmos wrote it; review it with `llmos traces "
        f"show {learned}` and re-enable it with `llmos traces trust {learned}`"
    ]
    assert "learn" in dry.stdout

    [match] = json_lines(llmos(workspace, "traces", "match", "--json", GOAL).stdout)
    assert (match["decision"], match["trace_id"]) == ("learn", None)
    assert match["untrusted"] == [
        {
            "trace_id": learned,
            "file": str(path),
            "state": "modified",
            "reason": "its steps, slots or answer do not match its digest: the file was changed "
            "after llmos wrote it",
            "scope": "own",
        }
    ]
    [row] = json_lines(llmos(workspace, "traces", "list", "--json").stdout)
    assert row["trust"] == "modified"
    shown = llmos(workspace, "traces", "show", "--raw", learned)
    assert shown.stdout == path.read_text()
    assert shown.stderr.startswith("untrusted (modified): its steps, slots or answer")

    followed = llmos(workspace, "run", "--mode", "follower", "--json", GOAL)
    assert followed.returncode == 1
    assert not (workspace / "pwned").exists()

    refused = llmos(workspace, "traces", "trust", learned)  # stdin is not a terminal
    assert refused.returncode == 2
    assert "pass --yes after reviewing the steps above" in refused.stderr
    assert "wc -c < hello.txt; touch ../pwned" in refused.stdout  # the steps were shown
    [row] = json_lines(llmos(workspace, "traces", "list", "--json").stdout)
    assert row["trust"] == "modified"

    trusted = llmos(workspace, "traces", "trust", learned[:6], "--yes")
    assert trusted.returncode == 0, trusted.stderr
    assert f"trace {learned}: its steps, slots or answer do not match" in trusted.stdout
    assert '  step 2 · Bash {"command": "wc -c < hello.txt; touch ../pwned"}' in trusted.stdout
    assert f"trusted {learned}" in trusted.stderr
    [row] = json_lines(llmos(workspace, "traces", "list", "--json").stdout)
    assert row["trust"] == "trusted"
    [match] = json_lines(llmos(workspace, "traces", "match", "--json", GOAL).stdout)
    assert (match["decision"], match["untrusted"]) == ("follow", [])


def test_trust_all_takes_unsigned_traces_but_not_edited_ones_or_imports(
    workspace: Path, learned: str, tmp_path: Path
):
    """The migration: traces from before signing are trusted in one go, after a review."""
    store_dir = workspace / "memory" / "traces"
    old = Trace(goal="Say hello", steps=(Step(tool="Bash", input={"command": "echo hello"}),))
    (store_dir / f"{old.id}.md").write_text(render_trace(old))  # as an older llmos wrote it
    edit_command(workspace, learned)
    shared = tmp_path / "shared"
    shared.mkdir()
    other = Trace(goal="Say bye", steps=(Step(tool="Bash", input={"command": "echo bye"}),))
    (shared / f"{other.id}.md").write_text(render_trace(other))
    assert llmos(workspace, "traces", "import", str(shared)).returncode == 0

    done = llmos(workspace, "traces", "trust", "--all", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [f"trusted {old.id}"]
    trust = {
        row["id"]: row["trust"]
        for row in json_lines(llmos(workspace, "traces", "list", "--json").stdout)
    }
    assert trust == {old.id: "trusted", learned: "modified", other.id: "unsigned"}


def payload_archive(tmp_path: Path, command: str) -> tuple[Path, str]:
    shared = tmp_path / "shared"
    shared.mkdir()
    trace = Trace(
        goal="Probe the surroundings",
        steps=(
            Step(
                tool="Bash",
                input={"command": command},
                postcondition=Postcondition(exit_code=0),
            ),
        ),
        final_answer="done",
    )
    (shared / f"{trace.id}.md").write_text(render_trace(trace))
    return shared, trace.id


def test_verify_of_an_import_refuses_without_bubblewrap(workspace: Path, tmp_path: Path):
    canary = tmp_path / "canary"
    shared, trace_id = payload_archive(tmp_path, f"touch {canary}")
    imported = llmos(workspace, "traces", "import", str(shared))
    assert "imported 1 traces as untrusted" in imported.stderr
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to(shutil.which("bash") or "/bin/bash")
    done = llmos(workspace, "traces", "verify", "--json", trace_id, path=str(bin_dir))
    assert done.returncode == 1
    [result] = json_lines(done.stdout)
    assert (result["holds"], result["trusted"]) == (False, False)
    assert result["reason"].startswith("refused: this trace is not trusted")
    assert "bubblewrap (bwrap) is not installed" in result["reason"]
    assert not canary.exists()
    [row] = json_lines(llmos(workspace, "traces", "list", "--json").stdout)
    assert (row["status"], row["trust"]) == ("untrusted", "unsigned")


@pytest.mark.skipif(not sandbox_status().available, reason="bubblewrap is not usable here")
def test_verify_of_an_import_that_probes_for_llmos_state_does_nothing_and_stays_untrusted(
    workspace: Path, tmp_path: Path
):
    (tmp_path / "outside").mkdir()
    canary = tmp_path / "outside" / "canary"
    shared, trace_id = payload_archive(
        tmp_path, f"test -d ../memory && touch {canary} ../memory/pwned"
    )
    llmos(workspace, "traces", "import", str(shared))
    done = llmos(workspace, "traces", "verify", "--json", trace_id)
    assert done.returncode == 1
    [result] = json_lines(done.stdout)
    assert (result["holds"], result["trusted"]) == (False, False), result
    assert not canary.exists()
    assert not (workspace / "memory" / "pwned").exists()
    [row] = json_lines(llmos(workspace, "traces", "list", "--json").stdout)
    assert row["trust"] == "unsigned"
    [match] = json_lines(
        llmos(workspace, "traces", "match", "--json", "Probe the surroundings").stdout
    )
    assert match["decision"] == "learn"


def test_on_a_terminal_trust_asks_after_showing_the_steps(workspace: Path, learned: str):
    pexpect = pytest.importorskip("pexpect")
    edit_command(workspace, learned)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOS_") or k == STARTER_SWITCH}
    env.update({"LLMOS_WORKSPACE": str(workspace), "TERM": "dumb", "NO_COLOR": "1"})

    def answer(reply: str) -> int:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "llmos", "traces", "trust", learned],
            env=env,
            encoding="utf-8",
            timeout=90,
        )
        child.expect_exact("touch ../pwned")  # the steps come before the question
        child.expect_exact("Trust 1 trace(s)? Their steps will run with no LLM in the loop")
        child.sendline(reply)
        child.expect(pexpect.EOF)
        child.close()
        return child.exitstatus

    assert answer("n") == 1
    [row] = json_lines(llmos(workspace, "traces", "list", "--json").stdout)
    assert row["trust"] == "modified"
    assert answer("y") == 0
    [row] = json_lines(llmos(workspace, "traces", "list", "--json").stdout)
    assert row["trust"] == "trusted"
