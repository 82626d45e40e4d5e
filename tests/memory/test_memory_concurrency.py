"""Two processes writing the same trace library at once lose nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from memory_helpers import calculator_trace

from llmos.memory import Matcher, TraceStore

WORKER = Path(__file__).with_name("memory_worker.py")
PER_PROCESS = 25


@pytest.mark.slow
def test_two_processes_saving_and_counting_at_once_lose_nothing(store: TraceStore) -> None:
    shared = store.save(calculator_trace())
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                str(store.root.parent),
                name,
                str(PER_PROCESS),
                shared.id,
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("left", "right")
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err

    problems: list[object] = []
    traces = list(store.iter(on_error=problems.append))
    assert problems == []
    assert len(traces) == 2 * PER_PROCESS + 1
    counted = store.load(shared.id)
    assert (counted.use_count, counted.replay_successes) == (2 * PER_PROCESS, 2 * PER_PROCESS)
    assert counted.saved_usd == pytest.approx(0.25 * 2 * PER_PROCESS)
    entries = {entry.id: entry for entry in store.entries()}
    assert set(entries) == {trace.id for trace in traces}
    assert entries[shared.id].use_count == 2 * PER_PROCESS
    assert Matcher(store).match("Write 7 to right-7.txt").decision == "follow"
    assert list(store.root.glob(".*")) == []  # no temp file left behind
