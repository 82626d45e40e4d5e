"""The SQLite index beside a folder of Markdown records (traces, facts): a cache of the files.

The files are the truth; an index only makes lookup fast and is rebuilt from
them at any time, so a schema from another version is dropped and made anew.
Besides the records' own table and full-text table, every index keeps the
(mtime, size) it read each file at, the files that could not be read (a
``broken`` table, so each command can report them without parsing them
again) and a ``meta`` table with the schema version and the folder stamp it
was last synced at. A connection per thread, reopened if the file was deleted.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from llmos.sqlite_wal import connect, transaction

BUSY_TIMEOUT_S = 30.0

_COMMON_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS broken (
    file TEXT PRIMARY KEY,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    reason TEXT NOT NULL
);
"""


class Row(Protocol):
    """What every index row has: the record's id and age, the file state it was read at."""

    @property
    def id(self) -> str: ...
    @property
    def file(self) -> str: ...
    @property
    def mtime_ns(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def created(self) -> str: ...


R = TypeVar("R", bound=Row)


@dataclass(frozen=True, slots=True)
class BrokenFile:
    """A record file that does not parse, as it was when it was last looked at."""

    file: str
    mtime_ns: int
    size: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexSchema(Generic[R]):
    """One kind of record in SQLite: its table, full-text table and row conversions.

    ``ddl`` creates ``table`` (with ``rowid``, ``id`` unique, ``file``, ``mtime_ns``,
    ``size`` and ``created`` among ``columns``), its indexes and ``fts``; ``tables``
    lists every table it creates, in drop order.
    """

    version: str
    ddl: str
    table: str
    fts: str
    tables: tuple[str, ...]
    #: The row type, built from keyword arguments named after ``columns``.
    row_type: Callable[..., R]
    columns: tuple[str, ...]
    fts_columns: tuple[str, ...]
    #: The values of ``fts_columns``.
    fts_values: Callable[[R], Sequence[object]]
    #: Columns stored as JSON: name → (to JSON data, back from JSON data).
    json_columns: Mapping[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = field(
        default_factory=dict
    )

    def values(self, row: R) -> list[object]:
        """The row's values in ``columns`` order, as stored."""
        values: list[object] = []
        for name in self.columns:
            value = getattr(row, name)
            if name in self.json_columns:
                value = json.dumps(self.json_columns[name][0](value), ensure_ascii=False)
            values.append(value)
        return values

    def row(self, values: Sequence[Any]) -> R:
        """A row back from its stored values (in ``columns`` order)."""
        data = dict(zip(self.columns, values, strict=True))
        for name, (_, from_json) in self.json_columns.items():
            data[name] = from_json(json.loads(data[name]))
        return self.row_type(**data)


class RecordIndex(Generic[R]):
    """One SQLite file holding the rows of one kind of record."""

    def __init__(self, path: Path, schema: IndexSchema[R]) -> None:
        self.path = path
        self.schema = schema
        self._local = threading.local()
        self._select_sql = f"SELECT {', '.join(schema.columns)} FROM {schema.table}"
        marks = ", ".join("?" for _ in schema.columns)
        self._insert_sql = (
            f"INSERT INTO {schema.table} ({', '.join(schema.columns)}) VALUES ({marks}) "
            "RETURNING rowid"
        )
        self._fts_insert_sql = (
            f"INSERT INTO {schema.fts} (rowid, {', '.join(schema.fts_columns)}) "
            f"VALUES (?, {', '.join('?' for _ in schema.fts_columns)})"
        )

    def connection(self) -> sqlite3.Connection:
        """This thread's connection: to the file, or, while the folder that would hold it
        does not exist (nothing was ever stored), to an empty index in memory, so that
        reading a fresh home creates nothing. The index is a cache of the files: it is
        rebuilt from them whenever it is new."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        in_memory = getattr(self._local, "in_memory", False)
        if conn is not None and (
            self.path.parent.is_dir() if in_memory else not self.path.exists()
        ):
            conn.close()  # the folder appeared, or the file was deleted behind our back
            conn = None
        if conn is None:
            in_memory = self.in_memory
            conn = self._open(in_memory=in_memory)
            self._local.conn, self._local.in_memory = conn, in_memory
        return conn

    @property
    def in_memory(self) -> bool:
        """Whether the index lives in memory (its folder does not exist yet)."""
        return not self.path.parent.is_dir()

    def _open(self, *, in_memory: bool = False) -> sqlite3.Connection:
        """Connect and put the schema in place, in one ``BEGIN IMMEDIATE``: when several
        connections open a fresh index at once, one creates the tables while the others
        wait, and none sees half a schema or drops tables another has just made."""
        where = Path(":memory:") if in_memory else self.path
        conn = connect(where, busy_timeout_s=BUSY_TIMEOUT_S, threads=True)
        try:
            with transaction(conn):
                if conn.execute(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'meta'"
                ).fetchone()[0]:
                    found = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                    if found is None or found[0] != self.schema.version:
                        for table in (*self.schema.tables, "broken", "meta"):
                            conn.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in (_COMMON_SCHEMA + self.schema.ddl).split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (self.schema.version,)
                )
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------ writing

    def upsert(self, rows: Iterable[R]) -> None:
        """Insert or replace rows (by id and by file), all in one transaction."""
        self.apply(rows)

    def remove(self, record_id: str) -> None:
        with transaction(self.connection()) as conn:
            self._drop(conn, "id", record_id)

    def apply(
        self,
        changed: Iterable[R] = (),
        *,
        gone: Iterable[str] = (),
        broken: Iterable[BrokenFile] = (),
        stamp: str | None = None,
    ) -> None:
        """Upsert changed rows, drop rows of vanished files, remember broken ones: one commit."""
        changed, broken = list(changed), list(broken)
        with transaction(self.connection()) as conn:
            for file in gone:
                self._drop(conn, "file", file)
            for problem in broken:
                self._drop(conn, "file", problem.file)
            for row in changed:
                self._drop(conn, "file", row.file)
                self._drop(conn, "id", row.id)
            self._write(conn, changed, broken)
            if stamp is not None:
                self._set_stamp(conn, stamp)

    def replace_all(self, rows: Iterable[R], stamp: str, broken: Iterable[BrokenFile] = ()) -> None:
        """Drop every row and insert ``rows``: a rebuild, atomic for readers."""
        with transaction(self.connection()) as conn:
            for table in (self.schema.table, self.schema.fts, "broken"):
                conn.execute(f"DELETE FROM {table}")
            self._write(conn, rows, broken)
            self._set_stamp(conn, stamp)

    def _write(
        self, conn: sqlite3.Connection, rows: Iterable[R], broken: Iterable[BrokenFile]
    ) -> None:
        schema = self.schema
        for row in rows:
            rowid = conn.execute(self._insert_sql, schema.values(row)).fetchone()[0]
            conn.execute(self._fts_insert_sql, (rowid, *schema.fts_values(row)))
        conn.executemany(
            "INSERT OR REPLACE INTO broken VALUES (?, ?, ?, ?)",
            [(b.file, b.mtime_ns, b.size, b.reason) for b in broken],
        )

    def _drop(self, conn: sqlite3.Connection, key: str, value: str) -> None:
        table, fts = self.schema.table, self.schema.fts
        if key == "file":
            conn.execute("DELETE FROM broken WHERE file = ?", (value,))
        conn.execute(
            f"DELETE FROM {fts} WHERE rowid IN (SELECT rowid FROM {table} WHERE {key} = ?)",
            (value,),
        )
        conn.execute(f"DELETE FROM {table} WHERE {key} = ?", (value,))

    def set_stamp(self, stamp: str) -> None:
        self._set_stamp(self.connection(), stamp)

    @staticmethod
    def _set_stamp(conn: sqlite3.Connection, stamp: str) -> None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('stamp', ?)", (stamp,))

    # ------------------------------------------------------------ reading

    def stamp(self) -> str | None:
        row = self.connection().execute("SELECT value FROM meta WHERE key = 'stamp'").fetchone()
        return None if row is None else row[0]

    def file_states(self) -> dict[str, tuple[int, int]]:
        """File name → (mtime_ns, size) as last seen, broken files included: what a sync
        compares the folder with, so an unchanged broken file is not parsed again."""
        rows = self.connection().execute(
            f"SELECT file, mtime_ns, size FROM {self.schema.table} UNION ALL "
            "SELECT file, mtime_ns, size FROM broken"
        )
        return {file: (mtime, size) for file, mtime, size in rows}

    def broken(self) -> list[BrokenFile]:
        """The files that could not be read, with why (reported on every command)."""
        rows = self.connection().execute(
            "SELECT file, mtime_ns, size, reason FROM broken ORDER BY file"
        )
        return [BrokenFile(*row) for row in rows]

    def select(self, where: str = "1", params: Sequence[object] = (), tail: str = "") -> list[R]:
        """Rows ``WHERE where`` (``tail``: ORDER BY / LIMIT)."""
        sql = f"{self._select_sql} WHERE {where} {tail}"
        return [self.schema.row(row) for row in self.connection().execute(sql, params)]

    def get(self, record_id: str) -> R | None:
        rows = self.select("id = ?", (record_id,))
        return rows[0] if rows else None

    def with_prefix(self, prefix: str, limit: int = 20) -> list[R]:
        return self.select(
            "id >= ? AND id < ?", (prefix, prefix + "\U0010ffff"), f"ORDER BY id LIMIT {limit}"
        )

    def all(self) -> list[R]:
        """Every row, oldest first."""
        return self.select(tail="ORDER BY created, id")
