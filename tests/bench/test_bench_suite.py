"""The benchmark suite stays runnable: each part at tiny size, and its workload is sound.

The suite runs as ``python -m bench.run`` in a subprocess from the repository
root (the way it is used), writing to a temporary results file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.markdown import write  # noqa: E402
from bench.simulated_model import plan_turns  # noqa: E402
from bench.workload_data import Checker, build_workload, load_families, prepare  # noqa: E402


def _run_suite(tmp_path: Path, *parts: str) -> dict[str, Any]:
    output = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", *parts, "--scale", "tiny", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return json.loads(output.read_text())


def test_workload_has_the_mix_the_issue_asks_for() -> None:
    tasks = build_workload(220)
    kinds = Counter(task.kind for task in tasks)
    assert len(tasks) >= 200 and len(load_families()) >= 25
    assert set(kinds) == {"novel", "repeat", "slot", "paraphrase", "near-miss"}
    assert min(kinds.values()) >= 20
    first_seen: dict[str, int] = {}
    for task in tasks:
        first_seen.setdefault(task.family, task.index)
        assert (task.kind == "novel") == (first_seen[task.family] == task.index)
        assert task.kind != "near-miss" or task.job != task.family


def test_every_family_task_passes_its_own_check_and_a_wrong_result_fails(tmp_path: Path) -> None:
    checker = Checker()
    families = {task.family: task for task in build_workload(220)}
    for task in families.values():
        assert checker.expected(task), f"{task.family} checks no file"
    fib = next(t for t in build_workload(220) if t.family == "fib" and t.kind == "novel")
    prepare(fib, tmp_path)
    assert checker.failures(fib, tmp_path) == [f"{path} is missing" for path in fib.check]
    (tmp_path / "fib.txt").write_text("0 1 1 2\n")
    assert "fib.txt differs from the reference" in checker.failures(fib, tmp_path)


def test_simulated_model_saves_turns_only_on_steps_the_guidance_holds() -> None:
    task = next(t for t in build_workload(220) if t.family == "notes" and t.kind == "novel")
    alone = plan_turns(task, task.goal)
    assert alone.kind == "alone" and len(alone.turns) == len(task.steps)
    listed = "\n".join(
        f"{n}. {s['tool']} {json.dumps(s['input'])}" for n, s in enumerate(task.steps, start=1)
    )
    guided = plan_turns(
        task,
        f'{task.goal}\n\nA similar task was done before: "x". '
        f"Its steps were:\n{listed}\nReuse what fits.",
    )
    assert guided.kind == "guided" and len(guided.turns) == 1
    unrelated = '1. Write {"file_path": "poem.txt", "content": "roses are red"}'
    other = plan_turns(
        task, f'{task.goal}\n\nA similar task was done before: "y". Its steps were:\n{unrelated}'
    )
    assert other.kind == "alone" and len(other.turns) == len(task.steps)


@pytest.mark.slow
def test_fast_parts_write_their_figures(tmp_path: Path) -> None:
    parts = ("workload", "lookup", "overheads", "startup", "goals", "orchestration")
    results = _run_suite(tmp_path, *parts)
    workload = results["workload"]
    assert workload["tasks"] == 12 and workload["false_follows"] == 0
    assert workload["success_pct"] == 100.0
    assert isinstance(workload["cost_reduction_pct"], float)
    assert set(results["lookup"]["p50_ms"]) == set(results["lookup"]["p99_ms"]) == {"300"}
    hooks = results["hooks"]
    # Each timing is positive; their difference may not be on a busy machine (it is noise).
    assert hooks["empty_pipeline_us_per_call"] > 0 and hooks["builtin_hooks_us_per_call"] > 0
    assert isinstance(hooks["overhead_us_per_call"], float)
    assert results["cli"]["startup_ms"] > 0
    startup = results["startup"]
    assert startup["runs"] == 3 and set(startup["ratio"]) == {"version", "followed_run"}
    assert all(ms > 0 for ms in startup["median_ms"].values())
    assert results["goals"]["goals_dev"]["must_not_follow_followed"] == 0
    assert results["orchestration"]["all_succeeded"] is True
    assert {"nproc", "cpu", "python", "os", "ram_gb"} <= set(results["machine"])
    assert set(results["runs"]) == set(parts)
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Written by hand\n")
    write(tmp_path / "results.json", page)
    first = page.read_text()
    write(tmp_path / "results.json", page)
    assert page.read_text() == first and first.startswith("# Written by hand\n")
    assert "| **false follows** | 0 |" in first and "scale: tiny" in first
    assert "start-up against `python -c pass`" in first


@pytest.mark.slow
def test_model_parts_write_their_figures(tmp_path: Path) -> None:
    results = _run_suite(tmp_path, "replay", "backends")
    assert results["replay"]["speedup"] > 1
    assert results["replay"]["followed_by"]
    assert results["backends"]["local"]["load_s"] > 0
    assert results["backends"]["claude_sdk"]["cold_first_task_s"] > 0
    assert (tmp_path / "results_local.json").is_file()
