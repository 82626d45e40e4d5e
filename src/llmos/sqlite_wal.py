"""The one way llmos opens an SQLite file and runs a transaction on it.

Every database llmos keeps (the trace and fact indexes, the ledger) is shared
by threads and processes: connections are in autocommit mode with write-ahead
logging and a busy timeout, and every write runs in :func:`transaction`, a
``BEGIN IMMEDIATE`` that takes the write lock up front, so two writers queue
on the busy timeout instead of failing half-way through a read-then-write.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: Path, *, busy_timeout_s: float, threads: bool = False) -> sqlite3.Connection:
    """A WAL connection to ``path`` in autocommit mode; ``threads``: usable from any thread.

    ``synchronous = NORMAL``: survives a killed process; a power cut may lose the
    last commits, never corrupts.
    """
    conn = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=not threads
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        use_wal(conn, busy_timeout_s)
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error (then re-raised)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def use_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """Switch to WAL. The first switch can fail with "locked" without waiting (SQLite
    does not call the busy handler for it) while another connection makes the same
    switch: retry until ``timeout_s`` has passed. The file remembers WAL; setting it
    again is a no-op."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
