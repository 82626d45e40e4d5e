"""The SQLite index beside the trace files: fast lookup at 100k traces.

The Markdown files are the truth; this index only makes lookup fast and can
be rebuilt from them at any time. It holds, per trace, the keys the matcher
looks up exactly (normalised signature, template shape, order-free bag of
terms), the counters shown by ``llmos traces list``, and a full-text table
for retrieval. WAL mode and a busy timeout let several processes read and
write it at once.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from llmos.memory.normalize import shape, signature, tokenize
from llmos.memory.similarity import terms_of
from llmos.memory.sqlite_index import open_index
from llmos.memory.trace import Slot, Trace

SCHEMA_VERSION = "4"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS broken (
    file TEXT PRIMARY KEY,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS traces (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    file TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    goal TEXT NOT NULL,
    signature TEXT NOT NULL,
    shape TEXT NOT NULL,
    bag TEXT NOT NULL,
    slots TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    last_used TEXT,
    parent TEXT,
    use_count INTEGER NOT NULL DEFAULT 0,
    replay_successes INTEGER NOT NULL DEFAULT 0,
    replay_failures INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    saved_usd REAL NOT NULL DEFAULT 0,
    backend TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    failure TEXT
);
CREATE INDEX IF NOT EXISTS traces_signature ON traces (signature);
CREATE INDEX IF NOT EXISTS traces_shape ON traces (shape);
CREATE INDEX IF NOT EXISTS traces_bag ON traces (bag);
CREATE VIRTUAL TABLE IF NOT EXISTS traces_fts USING fts5 (terms, tokenize = 'unicode61');
CREATE VIRTUAL TABLE IF NOT EXISTS traces_vocab USING fts5vocab (traces_fts, 'row');
"""
#: Retrieval reads at most about this many postings, rarest words first: it bounds the
#: time of a full-text lookup at any library size (about 1 ms per 1,000 postings).
POSTINGS_BUDGET = 3_000
_COLUMNS = (
    "id",
    "file",
    "mtime_ns",
    "size",
    "goal",
    "signature",
    "shape",
    "bag",
    "slots",
    "status",
    "created",
    "last_used",
    "parent",
    "use_count",
    "replay_successes",
    "replay_failures",
    "cost_usd",
    "saved_usd",
    "backend",
    "model",
    "failure",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexEntry:
    """What the index knows about one trace (enough to match and list it)."""

    id: str
    file: str
    goal: str
    signature: str
    shape: str
    bag: str
    slots: tuple[Slot, ...]
    status: str
    created: str
    last_used: str | None
    parent: str | None
    use_count: int
    replay_successes: int
    replay_failures: int
    cost_usd: float
    saved_usd: float
    backend: str = ""
    model: str = ""
    failure: str | None = None  # the failure kind of a failed trace
    mtime_ns: int = 0
    size: int = 0
    terms: str = ""


@dataclass(frozen=True, slots=True)
class BrokenFile:
    """A trace file that does not parse, as it was when it was last looked at."""

    file: str
    mtime_ns: int
    size: int
    reason: str


def _write_broken(conn: sqlite3.Connection, broken: Iterable[BrokenFile]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO broken VALUES (?, ?, ?, ?)",
        [(b.file, b.mtime_ns, b.size, b.reason) for b in broken],
    )


def entry_for(trace: Trace, file: str, *, mtime_ns: int = 0, size: int = 0) -> IndexEntry:
    """The index row of a trace; keys are derived from its goal, so old files index alike."""
    tokens = tokenize(trace.goal)
    terms = terms_of(tokens)
    return IndexEntry(
        id=trace.id,
        file=file,
        goal=trace.goal,
        signature=signature(tokens),
        shape=shape(tokens),
        bag=terms.bag,
        slots=trace.slots,
        status=trace.status,
        created=trace.created,
        last_used=trace.last_used,
        parent=trace.parent,
        use_count=trace.use_count,
        replay_successes=trace.replay_successes,
        replay_failures=trace.replay_failures,
        cost_usd=trace.cost_usd,
        saved_usd=trace.saved_usd,
        backend=trace.backend,
        model=trace.model,
        failure=trace.failure.value if trace.failure else None,
        mtime_ns=mtime_ns,
        size=size,
        terms=" ".join(terms.search_terms),
    )


def _slots_json(slots: tuple[Slot, ...]) -> str:
    return json.dumps([[s.name, s.type, s.value] for s in slots], ensure_ascii=False)


def _row_to_entry(row: sqlite3.Row) -> IndexEntry:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["slots"] = tuple(
        Slot(name=name, type=kind, value=value) for name, kind, value in json.loads(values["slots"])
    )
    return IndexEntry(**values)


_FTS_WORD = re.compile(r"[^\W_]+")


def fts_query(words: Iterable[str]) -> str:
    """An FTS5 OR-query of the given words, each quoted so no word is read as syntax."""
    return " OR ".join(f'"{word}"' for word in sorted(set(words)) if word)


class TraceIndex:
    """One SQLite file; a connection per thread, opened lazily."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_index(
                self.path,
                schema=_SCHEMA,
                version=SCHEMA_VERSION,
                tables=("traces_vocab", "traces_fts", "traces", "broken"),
            )
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------ writing

    def upsert(self, entries: Iterable[IndexEntry]) -> None:
        """Insert or replace rows, all in one transaction."""
        conn = self.connection()
        with _transaction(conn):
            _write(conn, entries)

    def remove(self, trace_id: str) -> None:
        conn = self.connection()
        with _transaction(conn):
            row = conn.execute("SELECT rowid FROM traces WHERE id = ?", (trace_id,)).fetchone()
            if row is not None:
                conn.execute("DELETE FROM traces_fts WHERE rowid = ?", (row[0],))
                conn.execute("DELETE FROM traces WHERE rowid = ?", (row[0],))

    def replace_all(
        self, entries: Iterable[IndexEntry], stamp: str, broken: Iterable[BrokenFile] = ()
    ) -> None:
        """Drop every row and insert ``entries``: a rebuild, atomic for readers."""
        conn = self.connection()
        with _transaction(conn):
            conn.execute("DELETE FROM traces")
            conn.execute("DELETE FROM traces_fts")
            conn.execute("DELETE FROM broken")
            _write(conn, entries)
            _write_broken(conn, broken)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('stamp', ?)", (stamp,))

    def apply(
        self,
        changed: Iterable[IndexEntry],
        gone: Iterable[str],
        stamp: str,
        broken: Iterable[BrokenFile] = (),
    ) -> None:
        """Upsert changed rows, drop the rows of vanished files, remember broken ones."""
        conn = self.connection()
        with _transaction(conn):
            changed = list(changed)
            broken = list(broken)
            for file in [*gone, *(e.file for e in changed), *(b.file for b in broken)]:
                conn.execute(
                    "DELETE FROM traces_fts WHERE rowid IN "
                    "(SELECT rowid FROM traces WHERE file = ?)",
                    (file,),
                )
                conn.execute("DELETE FROM traces WHERE file = ?", (file,))
                conn.execute("DELETE FROM broken WHERE file = ?", (file,))
            _write(conn, changed)
            _write_broken(conn, broken)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('stamp', ?)", (stamp,))

    def file_states(self) -> dict[str, tuple[int, int]]:
        """File name → (mtime_ns, size) as last seen, broken files included: what a sync
        compares the folder with, so an unchanged broken file is not parsed again."""
        rows = self.connection().execute(
            "SELECT file, mtime_ns, size FROM traces UNION ALL "
            "SELECT file, mtime_ns, size FROM broken"
        )
        return {file: (mtime, size) for file, mtime, size in rows}

    def broken(self) -> list[BrokenFile]:
        """The trace files that could not be read, with why (reported on every command)."""
        rows = self.connection().execute(
            "SELECT file, mtime_ns, size, reason FROM broken ORDER BY file"
        )
        return [BrokenFile(*row) for row in rows]

    def set_stamp(self, stamp: str) -> None:
        conn = self.connection()
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('stamp', ?)", (stamp,))

    def stamp(self) -> str | None:
        row = self.connection().execute("SELECT value FROM meta WHERE key = 'stamp'").fetchone()
        return None if row is None else row[0]

    # ------------------------------------------------------------ reading

    def _select(
        self, where: str, params: tuple[object, ...] = (), tail: str = ""
    ) -> list[IndexEntry]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM traces WHERE {where} {tail}"
        return [_row_to_entry(row) for row in self.connection().execute(sql, params)]

    def get(self, trace_id: str) -> IndexEntry | None:
        rows = self._select("id = ?", (trace_id,))
        return rows[0] if rows else None

    def with_prefix(self, prefix: str, limit: int = 20) -> list[IndexEntry]:
        upper = prefix + "\U0010ffff"
        return self._select("id >= ? AND id < ?", (prefix, upper), f"ORDER BY id LIMIT {limit}")

    def by_signature(self, value: str) -> list[IndexEntry]:
        return self._select("signature = ?", (value,))

    def by_shape(self, value: str) -> list[IndexEntry]:
        return self._select("shape = ?", (value,))

    def by_bag(self, value: str) -> list[IndexEntry]:
        return self._select("bag = ?", (value,))

    def search(self, terms: Iterable[str], limit: int = 20) -> list[IndexEntry]:
        """The best ``limit`` rows by BM25 over the rarer of the given words.

        Words are taken rarest first while their postings fit :data:`POSTINGS_BUDGET`;
        words found in a large share of the library carry little signal and cost the most.
        """
        query = fts_query(self._rare_words(terms))
        if not query:
            return []
        sql = (
            f"SELECT {', '.join('t.' + c for c in _COLUMNS)} FROM traces_fts f "
            "JOIN traces t ON t.rowid = f.rowid WHERE traces_fts MATCH ? "
            "ORDER BY f.rank LIMIT ?"
        )
        return [_row_to_entry(row) for row in self.connection().execute(sql, (query, limit))]

    def _rare_words(self, terms: Iterable[str]) -> list[str]:
        words = sorted({w.casefold() for term in terms for w in _FTS_WORD.findall(term)})
        if not words:
            return []
        marks = ", ".join("?" for _ in words)
        counts = (
            self.connection()
            .execute(f"SELECT term, doc FROM traces_vocab WHERE term IN ({marks})", words)
            .fetchall()
        )
        chosen, spent = [], 0
        for word, documents in sorted(counts, key=lambda item: item[1]):
            if spent + documents > POSTINGS_BUDGET:
                break
            chosen.append(word)
            spent += documents
        return chosen

    def all(self) -> Iterator[IndexEntry]:
        for row in self.connection().execute(
            f"SELECT {', '.join(_COLUMNS)} FROM traces ORDER BY created, id"
        ):
            yield _row_to_entry(row)


def _write(conn: sqlite3.Connection, entries: Iterable[IndexEntry]) -> None:
    placeholders = ", ".join("?" for _ in _COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "id")
    sql = (
        f"INSERT INTO traces ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates} RETURNING rowid"
    )
    for entry in entries:
        values = [getattr(entry, c) for c in _COLUMNS]
        values[_COLUMNS.index("slots")] = _slots_json(entry.slots)
        rowid = conn.execute(sql, values).fetchone()[0]
        conn.execute("DELETE FROM traces_fts WHERE rowid = ?", (rowid,))
        conn.execute("INSERT INTO traces_fts (rowid, terms) VALUES (?, ?)", (rowid, entry.terms))


class _transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on error (writers queue on the busy timeout)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")
