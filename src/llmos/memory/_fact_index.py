"""The SQLite full-text index beside the fact files (``memory/facts.sqlite``).

The Markdown files are the truth; this index only makes search fast and is
rebuilt from them whenever it is missing or any file changed behind its back.
It remembers the (mtime, size) it indexed each file at, and the files that
could not be read, so a broken file is reported once per change rather than
re-read on every search. WAL mode and a busy timeout let processes share it.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from llmos.memory.sqlite_index import open_index

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS facts (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    file TEXT NOT NULL UNIQUE,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    created TEXT NOT NULL,
    source TEXT NOT NULL,
    tags TEXT NOT NULL,
    task TEXT,
    trace TEXT,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS broken (
    file TEXT PRIMARY KEY,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    error TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS facts_fts USING fts5 (
    text, tags, tokenize = 'porter unicode61'
);
"""
_COLUMNS = ("id", "file", "mtime_ns", "size", "created", "source", "tags", "task", "trace", "text")
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class FactRow:
    """One indexed fact, with the file state it was read at."""

    id: str
    file: str
    mtime_ns: int
    size: int
    created: str
    source: str
    tags: tuple[str, ...]
    task: str | None
    trace: str | None
    text: str


@dataclass(frozen=True, slots=True)
class BrokenFile:
    """A fact file that could not be read, as of its (mtime, size)."""

    file: str
    mtime_ns: int
    size: int
    error: str


def query_words(text: str, stopwords: frozenset[str]) -> list[str]:
    """The content words of ``text``, lower-cased, without duplicates, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.casefold()):
        if word not in stopwords and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word)
    return list(seen)


def _row(values: sqlite3.Row | tuple[object, ...]) -> FactRow:
    data = dict(zip(_COLUMNS, values, strict=True))
    data["tags"] = tuple(json.loads(str(data["tags"])))
    return FactRow(**data)  # type: ignore[arg-type]


class FactIndex:
    """One SQLite file; a connection per thread, reopened if the file was deleted."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not self.path.exists():
            conn.close()  # deleted behind our back: start a fresh index
            conn = None
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        return open_index(
            self.path,
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            tables=("facts_fts", "facts", "broken"),
        )

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------ writing

    def apply(
        self, changed: Iterable[FactRow], broken: Iterable[BrokenFile], gone: Iterable[str]
    ) -> None:
        """Upsert changed rows, record broken files, drop rows of vanished files: one commit."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for file in gone:
                self._drop_file(conn, file)
            for problem in broken:
                self._drop_file(conn, problem.file)
                conn.execute(
                    "INSERT INTO broken VALUES (?, ?, ?, ?)",
                    (problem.file, problem.mtime_ns, problem.size, problem.error),
                )
            for row in changed:
                self._drop_file(conn, row.file)
                self._drop_id(conn, row.id)
                values = [getattr(row, c) for c in _COLUMNS]
                values[_COLUMNS.index("tags")] = json.dumps(list(row.tags), ensure_ascii=False)
                rowid = conn.execute(
                    f"INSERT INTO facts ({', '.join(_COLUMNS)}) "
                    f"VALUES ({', '.join('?' for _ in _COLUMNS)}) RETURNING rowid",
                    values,
                ).fetchone()[0]
                conn.execute(
                    "INSERT INTO facts_fts (rowid, text, tags) VALUES (?, ?, ?)",
                    (rowid, row.text, " ".join(row.tags)),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @staticmethod
    def _drop_file(conn: sqlite3.Connection, file: str) -> None:
        conn.execute("DELETE FROM broken WHERE file = ?", (file,))
        conn.execute(
            "DELETE FROM facts_fts WHERE rowid IN (SELECT rowid FROM facts WHERE file = ?)", (file,)
        )
        conn.execute("DELETE FROM facts WHERE file = ?", (file,))

    @staticmethod
    def _drop_id(conn: sqlite3.Connection, fact_id: str) -> None:
        conn.execute(
            "DELETE FROM facts_fts WHERE rowid IN (SELECT rowid FROM facts WHERE id = ?)",
            (fact_id,),
        )
        conn.execute("DELETE FROM facts WHERE id = ?", (fact_id,))

    # ------------------------------------------------------------ reading

    def file_states(self) -> dict[str, tuple[int, int]]:
        """File name → (mtime_ns, size) as last seen, readable or broken."""
        conn = self.connection()
        rows = conn.execute(
            "SELECT file, mtime_ns, size FROM facts "
            "UNION ALL SELECT file, mtime_ns, size FROM broken"
        )
        return {file: (mtime, size) for file, mtime, size in rows}

    def broken(self) -> list[BrokenFile]:
        rows = self.connection().execute(
            "SELECT file, mtime_ns, size, error FROM broken ORDER BY file"
        )
        return [BrokenFile(*row) for row in rows]

    def search(self, words: Iterable[str], limit: int) -> list[tuple[FactRow, float]]:
        """The best ``limit`` facts holding any of ``words``, with a score (higher is better).

        The score sums, over the query words a fact holds (stemmed, in its text or
        tags), a smoothed inverse document frequency: rare words weigh most, and
        unlike FTS5's ``bm25`` no word weighs zero in a small collection.
        """
        conn = self.connection()
        total = conn.execute("SELECT count(*) FROM facts").fetchone()[0]
        scores: dict[int, float] = {}
        for word in words:
            rowids = [
                row[0]
                for row in conn.execute(
                    "SELECT rowid FROM facts_fts WHERE facts_fts MATCH ?", (f'"{word}"',)
                )
            ]
            if rowids:
                weight = math.log(1 + (total - len(rowids) + 0.5) / (len(rowids) + 0.5))
                for rowid in rowids:
                    scores[rowid] = scores.get(rowid, 0.0) + weight
        # Only the best rows are read; among equal scores the later-inserted (newer) wins.
        best = sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)[:limit]
        if not best:
            return []
        marks = ", ".join("?" for _ in best)
        rows = {
            row[0]: _row(row[1:])
            for row in conn.execute(
                f"SELECT rowid, {', '.join(_COLUMNS)} FROM facts WHERE rowid IN ({marks})",
                [rowid for rowid, _ in best],
            )
        }
        return [(rows[rowid], score) for rowid, score in best]

    def all(self) -> list[FactRow]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM facts ORDER BY created, id"
        return [_row(row) for row in self.connection().execute(sql)]

    def with_prefix(self, prefix: str, limit: int = 11) -> list[FactRow]:
        sql = (
            f"SELECT {', '.join(_COLUMNS)} FROM facts WHERE id >= ? AND id < ? ORDER BY id LIMIT ?"
        )
        rows = self.connection().execute(sql, (prefix, prefix + "\U0010ffff", limit))
        return [_row(row) for row in rows]
