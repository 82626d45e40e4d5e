"""Crash safety: SIGKILL a process that learns, follows and charges, many times over.

A zygote process imports llmos once and forks children that loop (learn a new
goal with a priced model, re-run it, follow an older one) until the zygote
kills them with SIGKILL after a random delay. After all the kills the
workspace must be whole: every trace file parses, the index brought up to
date equals one built from scratch, the ledger's books balance, and
everything the children journaled as committed is still there.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from fault_worker import read_journal
from faults_helpers import (
    FaultCounts,
    env_count,
    index_rows,
    ledger_balances,
    llmos_cli,
    scratch_index_rows,
    trace_files,
    worker_cmd,
)

from llmos.memory import TraceStore

CALLS_PER_LEARN = 2  # the worker's model writes a file, then answers


@pytest.mark.slow
def test_sigkill_at_random_points_loses_nothing_and_corrupts_nothing(
    workspace: Path, tmp_path: Path, fault_counts: FaultCounts
):
    kills = env_count("LLMOS_FAULT_KILLS", 40)
    seed = env_count("LLMOS_FAULT_SEED", 20261125)
    journal = tmp_path / "journal.jsonl"
    done = subprocess.run(
        worker_cmd("zygote", str(workspace), str(journal), str(kills), str(seed)),
        capture_output=True,
        text=True,
        timeout=60 + 3 * kills,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome == {"kills": kills, "killed_mid_work": kills}, done.stderr[-3000:]
    lines = read_journal(journal)
    learned = [line for line in lines if line["kind"] == "learned" and line["ok"]]
    assert learned, f"no child got as far as learning a goal (seed {seed}); raise the delays"

    files = trace_files(workspace)
    assert files.broken == [], f"seed {seed}"
    missing = {line["trace"] for line in learned} - set(files.ids)
    assert not missing, f"traces journaled as saved are gone: {missing} (seed {seed})"

    store = TraceStore.for_memory(workspace / "memory")
    problems: list[Exception] = []
    assert sorted(t.id for t in store.iter(problems.append)) == sorted(files.ids)
    assert problems == [], "temp files of interrupted writes must be ignored"
    store.ensure_fresh()
    store.index.close()
    from_scratch = scratch_index_rows(workspace, tmp_path / "scratch.sqlite")
    assert index_rows(workspace / "memory" / "index.sqlite") == from_scratch, f"seed {seed}"
    assert store.reindex().problems == []
    store.index.close()
    assert index_rows(workspace / "memory" / "index.sqlite") == from_scratch

    ledger = ledger_balances(workspace)
    assert ledger.open_reservations == 0, "reservations of killed processes must be reclaimed"
    for line in (line for line in lines if line["kind"] == "charge"):
        assert ledger.charges_by_task[line["task"]] >= line["n"], f"charge lost: {line}"
    over = {t: n for t, n in ledger.charges_by_task.items() if n > CALLS_PER_LEARN}
    assert not over, f"more charges than model calls (counted twice?): {over}"
    assert all(n == 1 for n in ledger.savings_by_task.values()), ledger.savings_by_task
    followed = [line for line in lines if line["kind"] == "followed" and line["ok"]]
    for line in followed:
        assert line["mode"] == "follower" and line["trace"] == line["expected"], line
        assert ledger.savings_by_task[line["task"]] == 1, f"saving lost: {line}"
    for line in learned:
        assert ledger.charges_by_task[line["task"]] == CALLS_PER_LEARN, line

    listed = llmos_cli("traces", "list", "--json", workspace=workspace)
    assert listed.returncode == 0, listed.stderr
    assert sorted(json.loads(line)["id"] for line in listed.stdout.splitlines()) == sorted(
        files.ids
    )

    # The workspace still works after the crashes: learn and follow, cleanly.
    after = subprocess.run(
        worker_cmd("loop", str(workspace), str(journal), "after", "2", "0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert after.returncode == 0, after.stderr
    last = read_journal(journal)[len(lines) :]
    assert [(line["kind"], line["ok"]) for line in last if line["kind"] != "charge"] == [
        ("learned", True),
        ("followed", True),
    ] * 2
    assert trace_files(workspace).broken == []

    fault_counts.add("kills_survived", kills)
    fault_counts.add("processes", kills + 2)
    fault_counts.add("faults_injected", kills)
    fault_counts.add("crash_traces_checked", len(files.ids))
    fault_counts.add("crash_temp_files_left", len(files.temp_files))
    fault_counts.add("crash_charges_checked", sum(ledger.charges_by_task.values()))
