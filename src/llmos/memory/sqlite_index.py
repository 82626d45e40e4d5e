"""Opening an SQLite index that many threads and processes share.

Each index (traces, facts) is a cache rebuilt from files, so a schema from
another version is dropped and made anew. That happens in one ``BEGIN
IMMEDIATE`` transaction: when several connections open a fresh index at once,
one creates the tables while the others wait, and none sees half a schema or
drops tables another has just made.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from llmos.sqlite_wal import use_wal

BUSY_TIMEOUT_MS = 30_000


def open_index(
    path: Path, *, schema: str, version: str, tables: Sequence[str]
) -> sqlite3.Connection:
    """A WAL connection to ``path`` with ``schema`` in place (``tables`` in drop order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    use_wal(conn, BUSY_TIMEOUT_MS / 1000)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'meta'").fetchone()[0]:
            found = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if found is None or found[0] != version:
                for table in (*tables, "meta"):
                    conn.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in schema.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (version,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        conn.close()
        raise
    return conn
