"""Switching an SQLite database to write-ahead logging when several processes open it."""

from __future__ import annotations

import sqlite3
import time


def use_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """Switch to WAL. The first switch can fail with "locked" without waiting (SQLite
    does not call the busy handler for it) while another connection makes the same
    switch: retry until ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
