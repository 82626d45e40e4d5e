"""The same new goal started by 8 processes at once is learned once; the others follow.

The learner's run is made slow (a Bash ``sleep``), so that every process has
started and asked memory before the first one saves its trace: without
single-flight learning each of them learns the goal (8 traces, 8 bills).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from faults_helpers import FaultCounts, env_count, trace_files

from llmos.testing.cli import start_llmos, write_script

GOAL = "Create slow.txt after a pause"
SLOW = [
    {"tool_calls": [{"name": "Bash", "input": {"command": "sleep 4"}}]},
    {"tool_calls": [{"name": "Write", "input": {"file_path": "slow.txt", "content": "done\n"}}]},
    {"text": "Created slow.txt."},
]


@pytest.mark.slow
def test_eight_processes_on_one_new_goal_learn_it_once(tmp_path: Path, fault_counts: FaultCounts):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "llmos.toml").write_text(
        '[prices."scripted"]\ninput = 3.0\noutput = 15.0\n[tools]\nsandbox = false\n'
        "[memory]\ninsights = false\n"
    )
    script = write_script(tmp_path / "slow.json", SLOW)
    count = env_count("LLMOS_FAULT_SINGLE_FLIGHT", 8)
    runs = [
        start_llmos(
            "run",
            "--json",
            "--provider",
            "scripted",
            "--script",
            str(script),
            GOAL,
            cwd=tmp_path,
            workspace=workspace,
        )
        for _ in range(count)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (_, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err[-2000:]
    modes = sorted(
        event["mode"]
        for out, _ in outputs
        for event in map(json.loads, out.splitlines())
        if event["kind"] == "mode-chosen"
    )
    assert modes == ["follower"] * (count - 1) + ["learner"], modes
    waited = [out for out, _ in outputs if "being learned by another run" in out]
    assert waited, "no run said it waited for the one learning (a notice in the --json stream)"
    files = trace_files(workspace)
    assert len(files.ids) == 1 and files.broken == [], files
    conn = sqlite3.connect(workspace / "ledger.sqlite")
    try:
        billed = conn.execute("SELECT COUNT(DISTINCT task_id) FROM charges").fetchone()[0]
    finally:
        conn.close()
    assert billed == 1, f"{billed} runs paid for the model"
    fault_counts.add("processes", count)
