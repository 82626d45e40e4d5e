"""Several llmos processes learning, following and charging in one workspace at once.

Each worker process learns new goals under one small shared budget and follows
goals learned by itself and by the others (so replays of one trace race on its
use counters). Afterwards: every run that saved a trace has it, no trace exists
that no run saved, use counts add up, the budget was never overspent, and the
ledger's books balance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from fault_worker import PRICED_MODEL, read_journal
from faults_helpers import (
    FaultCounts,
    env_count,
    ledger_balances,
    llmos_cli,
    trace_files,
    worker_cmd,
)

from llmos.economy.ledger import to_nano
from llmos.memory import TraceStore

BUDGET_USD = 0.12  # about nine learned goals' worth: most workers get refused at some point


def cli_learner(workspace: Path, tmp_path: Path, number: int) -> subprocess.Popen[str]:
    """``llmos run`` in its own process, learning a goal of its own under the shared budget."""
    name = f"cli_{number}.txt"
    script = tmp_path / f"cli_{number}.json"
    script.write_text(
        json.dumps(
            [
                {
                    "tool_calls": [
                        {"name": "Write", "input": {"file_path": name, "content": "cli\n"}}
                    ]
                },
                {"text": f"{name} written."},
            ]
        )
    )
    env = {
        **os.environ,
        "LLMOS_WORKSPACE": str(workspace),
        "LLMOS_LEARNER__MAX_TOKENS": "256",
        "LLMOS_BUDGET__TOTAL_USD": str(BUDGET_USD),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmos",
            "run",
            "--provider",
            "scripted",
            "--script",
            str(script),
            "-m",
            PRICED_MODEL,
            "--json",
            # learner mode: with auto, the second CLI run may follow the first's trace (a slot
            # variant) and report its id, which is right but not what this test counts
            "--mode",
            "learner",
            f"Create the file {name} for the command line",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_concurrent_processes_share_one_workspace_and_one_small_budget(
    workspace: Path, tmp_path: Path, fault_counts: FaultCounts
):
    processes = env_count("LLMOS_FAULT_PROCESSES", 6)
    rounds = env_count("LLMOS_FAULT_ROUNDS", 6)
    journal = tmp_path / "journal.jsonl"
    workers = [
        subprocess.Popen(
            worker_cmd("loop", str(workspace), str(journal), f"w{n}", str(rounds), str(BUDGET_USD)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    cli_runs = [cli_learner(workspace, tmp_path, n) for n in range(env_count("LLMOS_FAULT_CLI", 2))]
    for worker in workers:
        _, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
    cli_traces = []
    for run in cli_runs:
        out, err = run.communicate(timeout=240)
        last = json.loads(out.splitlines()[-1])
        assert (run.returncode, last["kind"]) in ((0, "task-finished"), (1, "task-failed")), err
        assert run.returncode == 0 or last["error_type"] == "BudgetExceeded", last
        cli_traces += [last["trace_id"]] if last.get("trace_id") else []
    lines = read_journal(journal)
    learned = [line for line in lines if line["kind"] == "learned"]
    assert len(learned) == processes * rounds
    succeeded = [line for line in learned if line["ok"]]
    refused = [line for line in learned if line["error"] == "BudgetExceeded"]
    assert succeeded and refused, "the budget should admit some runs and refuse others"
    assert len(succeeded) + len(refused) == len(learned), [
        line for line in learned if not line["ok"] and line["error"] != "BudgetExceeded"
    ]

    files = trace_files(workspace)
    assert files.broken == [] and files.temp_files == []
    saved = [line["trace"] for line in learned if line["trace"]] + cli_traces
    assert len(saved) == len(set(saved)), "two runs reported the same trace"
    assert sorted(files.ids) == sorted(saved), "a trace was lost or one no run saved appeared"

    followed = [line for line in lines if line["kind"] == "followed"]
    assert followed and all(line["ok"] and line["mode"] == "follower" for line in followed)
    assert all(line["trace"] == line["expected"] for line in followed)
    uses = Counter(line["trace"] for line in followed)
    store = TraceStore.for_memory(workspace / "memory")
    for trace_id in files.ids:
        trace = store.load(trace_id)
        assert (trace.use_count, trace.replay_successes) == (uses[trace_id],) * 2, trace_id
    store.index.close()

    ledger = ledger_balances(workspace)
    assert ledger.open_reservations == 0
    assert ledger.spent_nano <= to_nano(BUDGET_USD), "the shared budget was overspent"
    assert sum(ledger.savings_by_task.values()) == len(followed)
    for line in succeeded:
        assert ledger.charges_by_task[line["task"]] == 2, line
    report = llmos_cli("budget", "--json", workspace=workspace)
    assert report.returncode == 0, report.stderr

    fault_counts.add("processes", processes + len(cli_runs))
    fault_counts.add("concurrent_runs", len(lines) - sum(1 for x in lines if x["kind"] == "charge"))
    fault_counts.add("budget_refusals", len(refused))
