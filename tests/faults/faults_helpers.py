"""Shared checks of the fault-injection suite: is the workspace whole after what we did to it?

Each check reads the workspace the way an outsider would (the trace files with
``read_trace``, the ledger with plain SQL) and returns or asserts facts, so a
test states what it broke and then calls the checks that must still hold.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmos import LLMOS
from llmos.backends.anthropic import AnthropicBackend
from llmos.backends.openai import OpenAIBackend
from llmos.config import load_settings
from llmos.economy import TokenEconomy
from llmos.errors import TraceFormatError
from llmos.memory import TraceStore
from llmos.memory.index import TraceIndex
from llmos.memory.trace_format import read_trace
from llmos.testing.fake_llm_server import FakeLLMServer, ToolUse

WORKER = Path(__file__).with_name("fault_worker.py")
FAKE_MODEL = "claude-sonnet-4-6"  # priced, so the ledger records what each call cost
GOAL_A = "Create a.txt holding the word alpha"
WRITE_A = ToolUse(name="Write", input={"file_path": "a.txt", "content": "alpha\n"})


#: Read at import: the autouse fixture of tests/conftest.py hides LLMOS_* during each test.
_FAULT_ENV = {k: v for k, v in os.environ.items() if k.startswith("LLMOS_FAULT_")}


def env_count(name: str, default: int) -> int:
    """A count the CI keeps small and a person may raise (``LLMOS_FAULT_KILLS=200``)."""
    raw = _FAULT_ENV.get(name, "")
    return int(raw) if raw.strip() else default


def llmos_cli(
    *args: str,
    workspace: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``python -m llmos ARGS`` in a fresh process, as a person would run it."""
    full_env = {
        **os.environ,
        "LLMOS_WORKSPACE": str(workspace),
        "NO_COLOR": "1",
        "COLUMNS": "200",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "llmos", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        timeout=timeout,
    )


def worker_cmd(*args: str) -> list[str]:
    return [sys.executable, str(WORKER), *args]


def llmos_over_fake_server(
    api: str, server: FakeLLMServer, workspace: Path, **overrides: Any
) -> LLMOS:
    """llmos over the real SDK backend of ``api`` (anthropic or openai), aimed at the fake."""
    backend = (
        AnthropicBackend(FAKE_MODEL, api_key="test", base_url=server.url, timeout=30, max_retries=1)
        if api == "anthropic"
        else OpenAIBackend(
            FAKE_MODEL, api_key="test", base_url=server.openai_url, timeout=30, max_retries=1
        )
    )
    settings = load_settings(workspace=workspace, overrides={"memory.insights": False, **overrides})
    return LLMOS(settings=settings, backend=backend)


# ---------------------------------------------------------------- traces and index


@dataclass(frozen=True, slots=True)
class TraceFiles:
    ids: list[str]
    broken: list[str]
    temp_files: list[str]


def trace_files(workspace: Path) -> TraceFiles:
    """Every trace file parsed with ``read_trace``; temp files of interrupted writes listed."""
    folder = workspace / "memory" / "traces"
    ids, broken, temps = [], [], []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name.startswith("."):
            temps.append(path.name)
            continue
        try:
            trace = read_trace(path)
        except TraceFormatError as exc:
            broken.append(f"{path.name}: {exc}")
            continue
        assert path.name == f"{trace.id}.md", f"{path.name} holds trace {trace.id}"
        ids.append(trace.id)
    return TraceFiles(ids=ids, broken=broken, temp_files=temps)


def index_rows(index_path: Path) -> list[tuple[Any, ...]]:
    """Every row of an index, comparable across indexes (file stamps included)."""
    index = TraceIndex(index_path)
    try:
        return sorted(
            (
                e.id,
                e.file,
                e.mtime_ns,
                e.size,
                e.goal,
                e.signature,
                e.shape,
                e.bag,
                e.slots,
                e.status,
                e.created,
                e.last_used,
                e.parent,
                e.use_count,
                e.replay_successes,
                e.replay_failures,
                e.cost_usd,
                e.saved_usd,
                e.terms,
            )
            for e in index.all()
        )
    finally:
        index.close()


def scratch_index_rows(workspace: Path, scratch: Path) -> list[tuple[Any, ...]]:
    """The rows of an index built from scratch, elsewhere, over the same trace files."""
    store = TraceStore(workspace / "memory" / "traces", scratch)
    report = store.reindex()
    assert not report.problems, [str(p) for p in report.problems]
    store.index.close()
    return index_rows(scratch)


# ---------------------------------------------------------------- ledger


@dataclass(frozen=True, slots=True)
class LedgerFacts:
    charges_by_task: Counter[str]
    savings_by_task: Counter[str]
    spent_nano: int
    open_reservations: int


def ledger_balances(workspace: Path) -> LedgerFacts:
    """Assert the ledger's own books agree, and return what it holds per task.

    Every reservation's ``spent`` equals the sum of the charges booked to it;
    the total spent equals the sum of all charges; after a fresh economy looked
    at the budget, no reservation of a dead process is left open.
    """
    path = workspace / "ledger.sqlite"
    TokenEconomy(path).check_budget(0)  # reclaims reservations of dead processes
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        mismatched = conn.execute(
            "SELECT r.id, r.spent_nano, COALESCE(SUM(c.nano_usd), 0) FROM reservations r "
            "LEFT JOIN charges c ON c.reservation_id = r.id GROUP BY r.id "
            "HAVING r.spent_nano != COALESCE(SUM(c.nano_usd), 0)"
        ).fetchall()
        assert not mismatched, f"reservation spent != its charges: {mismatched}"
        orphans = conn.execute(
            "SELECT COUNT(*) FROM charges WHERE reservation_id IS NOT NULL AND reservation_id "
            "NOT IN (SELECT id FROM reservations)"
        ).fetchone()[0]
        assert orphans == 0, f"{orphans} charge(s) point at no reservation"
        open_rows = conn.execute(
            "SELECT id, owner FROM reservations WHERE state = 'open'"
        ).fetchall()
        charges = Counter(t for (t,) in conn.execute("SELECT task_id FROM charges"))
        savings = Counter(t for (t,) in conn.execute("SELECT task_id FROM savings"))
        spent = conn.execute("SELECT COALESCE(SUM(nano_usd), 0) FROM charges").fetchone()[0]
    finally:
        conn.close()
    return LedgerFacts(
        charges_by_task=charges,
        savings_by_task=savings,
        spent_nano=spent,
        open_reservations=len(open_rows),
    )


# ---------------------------------------------------------------- counts for BENCHMARKS.md


class FaultCounts:
    """What the suite did, summed over the session and written to ``tests/artifacts``."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] += amount

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dict(sorted(self.counts.items())), indent=2) + "\n")


COUNTS = FaultCounts()
