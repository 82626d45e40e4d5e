"""Kills aimed at the moment a trace's temp file exists: the next open removes what is left.

A writer killed between creating ``.ID.md.~writer~….tmp`` and renaming it
leaves the temp file behind. Nothing else ever looks at it, so before this
fix 40 aimed kills left 39 files (74.7 MB). The temp file names its writer;
opening the store removes those whose writer is gone, and only those.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faults_helpers import FaultCounts, env_count, trace_files

from llmos.memory import TraceStore
from llmos.owners import current_owner

#: Saves big traces in a loop, so that a temp file exists for a good share of the time.
WRITER = """
import sys
from pathlib import Path
from llmos.memory import Trace, TraceStore

store = TraceStore.for_memory(Path(sys.argv[1]))
answer = "x" * 4_000_000
for number in range(10_000):
    store.save(Trace(goal=f"Write the big report number {number}", final_answer=answer))
"""


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*.tmp")) if folder.is_dir() else []


def kill_while_a_temp_file_exists(memory: Path) -> bool:
    """Start a writer, SIGKILL it the moment a temp file appears; True if one was left."""
    folder = memory / "traces"
    before = set(temp_files(folder))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(memory)])
    try:
        while not set(temp_files(folder)) - before:
            assert writer.poll() is None, "the writer ended before writing"
            time.sleep(0.001)
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.wait()
    return bool(set(temp_files(folder)) - before)


@pytest.mark.slow
def test_temp_files_of_writers_killed_mid_write_are_removed_on_the_next_open(
    tmp_path: Path, fault_counts: FaultCounts
):
    memory = tmp_path / "ws" / "memory"
    wanted = env_count("LLMOS_FAULT_TEMP_KILLS", 3)
    left_behind = 0
    for _ in range(wanted * 10):
        left_behind += kill_while_a_temp_file_exists(memory)
        if left_behind >= wanted:
            break
    assert left_behind >= wanted, f"only {left_behind} kills landed while a temp file existed"
    # Each new writer's store swept what the kill before it left: only the last kill's remain.
    folder = memory / "traces"
    leftovers = temp_files(folder)
    assert leftovers, "the last kill left a temp file"

    store = TraceStore.for_memory(memory)
    assert sorted(p.name for p in store.swept) == leftovers
    assert temp_files(folder) == []
    files = trace_files(tmp_path / "ws")
    assert files.broken == [] and files.temp_files == []
    fault_counts.add("kills_survived", left_behind)
    fault_counts.add("faults_injected", left_behind)
    fault_counts.add("processes", left_behind)


def test_a_live_writers_temp_file_is_left_alone(tmp_path: Path):
    """The sweep removes only what a dead writer left: this process is alive, its file stays."""
    folder = tmp_path / "ws" / "memory" / "traces"
    folder.mkdir(parents=True)
    mine = folder / f".abc.md.~{current_owner().replace(':', '~')}~zz.tmp"
    mine.write_text("half a trace")
    assert TraceStore.for_memory(tmp_path / "ws" / "memory").swept == []
    assert mine.exists()
