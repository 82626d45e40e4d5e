"""`llmos run --json` of an orchestration: a program follows the plan and subtasks by kind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from llmos.outcome import FailureKind
from llmos.testing.cli import STARTER_SWITCH

GOAL = "Collect the facts about Rust, then write notes.md from them"
PLAN = {
    "subtasks": [
        {"id": "s1", "description": "Collect the facts about Rust", "agent": "researcher"},
        {
            "id": "s2",
            "description": "Write notes.md from the facts",
            "agent": "writer",
            "depends_on": ["s1"],
        },
    ]
}
#: Played in order: the plan, s1 (one answer), s2 (a write, then an answer), the synthesis.
SCRIPT = [
    {"text": json.dumps(PLAN)},
    {"text": "Rust 1.0 shipped in 2015."},
    {"tool_calls": [{"name": "Write", "input": {"file_path": "notes.md", "content": "# Rust\n"}}]},
    {"text": "notes.md is written."},
    {"text": "notes.md holds the facts about Rust."},
]


def run_json(
    tmp_path: Path, script: list[dict[str, Any]], *args: str, exit_code: int = 0
) -> list[dict[str, Any]]:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOS_") or k == STARTER_SWITCH}
    env["LLMOS_WORKSPACE"] = str(tmp_path / "ws")
    command = [sys.executable, "-m", "llmos", "run", "--json", "--provider", "scripted"]
    done = subprocess.run(
        [*command, "--script", str(path), *args, GOAL],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == exit_code, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_run_json_of_an_orchestration_emits_the_typed_plan_and_subtask_events(tmp_path: Path):
    events = run_json(tmp_path, SCRIPT, "--mode", "orchestrator")
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_kind[event["kind"]].append(event)
    root = events[0]["task_id"]
    assert not by_kind["notice"]  # nothing a program needs is left in free-form text

    [plan] = by_kind["plan-made"]
    assert plan["task_id"] == root and plan["parallel"] == 1 and not plan["resumed"]
    assert [(s["id"], s["agent"], s["depends_on"], s["state"]) for s in plan["subtasks"]] == [
        ("s1", "researcher", [], "pending"),
        ("s2", "writer", ["s1"], "pending"),
    ]

    started = by_kind["subtask-started"]
    assert [(e["subtask_id"], e["subtask_task_id"], e["agent"]) for e in started] == [
        ("s1", f"{root}.s1", "researcher"),
        ("s2", f"{root}.s2", "writer"),
    ]
    finished = by_kind["subtask-finished"]
    assert [(e["task_id"], e["subtask_id"]) for e in finished] == [(root, "s1"), (root, "s2")]
    assert all(e["mode"] == "learner" and e["trace_id"] for e in finished)
    assert not by_kind["subtask-failed"] and not by_kind["subtask-skipped"]
    # In order: the plan, then each subtask starts before it finishes, s2 after s1.
    order = [
        (e["kind"], e.get("subtask_id")) for e in events if e["kind"].startswith(("plan", "sub"))
    ]
    assert order == [
        ("plan-made", None),
        ("subtask-started", "s1"),
        ("subtask-finished", "s1"),
        ("subtask-started", "s2"),
        ("subtask-finished", "s2"),
    ]
    final = events[-1]
    assert (final["kind"], final["task_id"], final["mode"]) == (
        "task-finished",
        root,
        "orchestrator",
    )
    assert final["text"] == "notes.md holds the facts about Rust."
    assert (tmp_path / "notes.md").read_text() == "# Rust\n"


def test_a_failed_subtask_and_the_one_after_it_are_typed_events(tmp_path: Path):
    # The script ends after the plan: s1's model has nothing to say, so s1 fails twice
    # (one retry) and s2, which depends on it, is skipped.
    script = [{"text": json.dumps(PLAN)}]
    events = run_json(tmp_path, script, "--mode", "orchestrator", exit_code=1)
    root = events[0]["task_id"]
    failed = [e for e in events if e["kind"] == "subtask-failed"]
    assert [(e["subtask_id"], e["attempt"], e["attempts"], e["retrying"]) for e in failed] == [
        ("s1", 1, 2, True),
        ("s1", 2, 2, False),
    ]
    assert [e["subtask_task_id"] for e in failed] == [f"{root}.s1", f"{root}.s1.2"]
    assert all(FailureKind(e["failure"]) and e["error"] for e in failed)
    [skipped] = [e for e in events if e["kind"] == "subtask-skipped"]
    assert (skipped["subtask_id"], skipped["reason"]) == ("s2", "depends on s1, which failed")
    assert (events[-1]["kind"], events[-1]["failure"]) == ("task-failed", "subtask-failed")
