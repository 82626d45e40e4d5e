"""The ledger: every charge, saving and reservation, in SQLite in the workspace.

Several llmos processes may share one ledger. The file is in WAL mode (readers
never wait for the writer), every connection waits up to ``busy_timeout_s``
for a lock, and every operation runs in one ``BEGIN IMMEDIATE`` transaction:
the write lock is taken before the first read, so a read-then-write (is there
room in the budget? then reserve it) cannot interleave with another process.
A process killed mid-transaction leaves nothing behind: SQLite rolls the
unfinished transaction back on the next open.

Money is stored as integer nanodollars, so sums are exact and "the total never
goes over the budget" is a comparison of integers, not of rounded floats.

The schema version is ``PRAGMA user_version``; :data:`MIGRATIONS` lists the
steps from each version to the next and runs under the write lock, so two
processes opening a new ledger at once do not both create it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from llmos.errors import ConfigError, LedgerError, LLMOSError
from llmos.messages import Usage
from llmos.owners import current_owner as current_owner  # re-exported for the economy
from llmos.owners import owner_alive as owner_alive
from llmos.sqlite_wal import connect, transaction

NANO_PER_USD = 1_000_000_000

ReservationState = Literal["open", "released", "abandoned"]
GroupColumn = Literal["mode", "model", "project"]

#: Each entry moves the schema from version ``index`` to ``index + 1``.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE reservations (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            task_id TEXT NOT NULL,
            mode TEXT NOT NULL,
            model TEXT,
            project TEXT,
            amount_nano INTEGER NOT NULL CHECK (amount_nano >= 0),
            spent_nano INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'open'
                CHECK (state IN ('open', 'released', 'abandoned')),
            owner TEXT NOT NULL,
            closed_ts REAL
        )""",
        "CREATE INDEX reservations_open ON reservations (state) WHERE state = 'open'",
        """CREATE TABLE charges (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            task_id TEXT NOT NULL,
            reservation_id INTEGER REFERENCES reservations (id) ON DELETE SET NULL,
            mode TEXT NOT NULL,
            model TEXT NOT NULL,
            project TEXT,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL,
            nano_usd INTEGER NOT NULL,
            priced INTEGER NOT NULL
        )""",
        "CREATE INDEX charges_ts ON charges (ts)",
        "CREATE INDEX charges_reservation ON charges (reservation_id)",
        """CREATE TABLE savings (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            task_id TEXT NOT NULL,
            trace_id TEXT NOT NULL,
            nano_usd INTEGER NOT NULL
        )""",
        "CREATE INDEX savings_ts ON savings (ts)",
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def to_nano(usd: float) -> int:
    return round(usd * NANO_PER_USD)


def from_nano(nano: int) -> float:
    return nano / NANO_PER_USD


@dataclass(frozen=True, slots=True, kw_only=True)
class ReservationRow:
    id: int
    ts: float
    task_id: str
    mode: str
    model: str | None
    project: str | None
    amount_nano: int
    spent_nano: int
    state: ReservationState
    owner: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeRow:
    ts: float
    task_id: str
    reservation_id: int | None
    mode: str
    model: str
    project: str | None
    usage: Usage
    nano_usd: int
    priced: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupRow:
    key: str
    nano_usd: int
    calls: int
    usage: Usage


@dataclass(frozen=True, slots=True, kw_only=True)
class DayRow:
    day: str
    spent_nano: int
    calls: int
    saved_nano: int
    replays: int


# ---------------------------------------------------------------- who holds a reservation


# ---------------------------------------------------------------- the ledger


class LedgerTx:
    """Queries inside one ``BEGIN IMMEDIATE`` transaction; see :meth:`Ledger.transaction`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # settings
    def get_setting(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_setting(self, key: str, value: str | None) -> None:
        if value is None:
            self._conn.execute("DELETE FROM settings WHERE key = ?", (key,))
        else:
            self._conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # reservations
    def open_reservations(self) -> list[ReservationRow]:
        rows = self._conn.execute(
            "SELECT * FROM reservations WHERE state = 'open' ORDER BY id"
        ).fetchall()
        return [_reservation(row) for row in rows]

    def reservation(self, reservation_id: int) -> ReservationRow | None:
        row = self._conn.execute(
            "SELECT * FROM reservations WHERE id = ?", (reservation_id,)
        ).fetchone()
        return None if row is None else _reservation(row)

    def insert_reservation(
        self,
        *,
        ts: float,
        task_id: str,
        mode: str,
        model: str | None,
        project: str | None,
        amount_nano: int,
        owner: str,
    ) -> ReservationRow:
        row = self._conn.execute(
            "INSERT INTO reservations (ts, task_id, mode, model, project, amount_nano, owner) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
            (ts, task_id, mode, model, project, amount_nano, owner),
        ).fetchone()
        return _reservation(row)

    def grow_reservation(
        self, reservation_id: int, *, amount_nano: int = 0, spent_nano: int = 0
    ) -> None:
        self._conn.execute(
            "UPDATE reservations SET amount_nano = amount_nano + ?, spent_nano = spent_nano + ? "
            "WHERE id = ?",
            (amount_nano, spent_nano, reservation_id),
        )

    def close_reservations(self, ids: Sequence[int], state: ReservationState, ts: float) -> None:
        self._conn.executemany(
            "UPDATE reservations SET state = ?, closed_ts = ? WHERE id = ? AND state = 'open'",
            [(state, ts, reservation_id) for reservation_id in ids],
        )

    # charges and savings
    def insert_charge(self, charge: ChargeRow) -> None:
        usage = charge.usage
        self._conn.execute(
            "INSERT INTO charges (ts, task_id, reservation_id, mode, model, project, "
            "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, nano_usd, priced) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                charge.ts,
                charge.task_id,
                charge.reservation_id,
                charge.mode,
                charge.model,
                charge.project,
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_tokens,
                usage.cache_write_tokens,
                charge.nano_usd,
                int(charge.priced),
            ),
        )

    def insert_saving(self, *, ts: float, task_id: str, trace_id: str, nano_usd: int) -> None:
        self._conn.execute(
            "INSERT INTO savings (ts, task_id, trace_id, nano_usd) VALUES (?, ?, ?, ?)",
            (ts, task_id, trace_id, nano_usd),
        )

    def spent_nano(self) -> int:
        return self._conn.execute("SELECT COALESCE(SUM(nano_usd), 0) FROM charges").fetchone()[0]

    def saved_nano(self) -> int:
        return self._conn.execute("SELECT COALESCE(SUM(nano_usd), 0) FROM savings").fetchone()[0]

    def charge_count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM charges").fetchone()[0]

    def replay_count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM savings").fetchone()[0]

    def unpriced_models(self) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT model FROM charges WHERE priced = 0 ORDER BY model"
        ).fetchall()
        return [row[0] for row in rows]

    def spending_by(self, column: GroupColumn) -> list[GroupRow]:
        """Charges grouped by one column, the most expensive first."""
        if column not in ("mode", "model", "project"):  # the name goes into the SQL text
            raise ValueError(f"cannot group charges by {column!r}")
        rows = self._conn.execute(
            f"SELECT COALESCE({column}, ''), SUM(nano_usd), COUNT(*), SUM(input_tokens), "
            "SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens) "
            f"FROM charges GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        return [
            GroupRow(
                key=key,
                nano_usd=nano,
                calls=calls,
                usage=Usage(
                    input_tokens=tin,
                    output_tokens=tout,
                    cache_read_tokens=tread,
                    cache_write_tokens=twrite,
                ),
            )
            for key, nano, calls, tin, tout, tread, twrite in rows
        ]

    def by_day(self) -> list[DayRow]:
        """Spending and savings per UTC day, oldest first."""
        rows = self._conn.execute(
            """
            SELECT day, SUM(spent), SUM(calls), SUM(saved), SUM(replays) FROM (
                SELECT date(ts, 'unixepoch') AS day, nano_usd AS spent, 1 AS calls,
                       0 AS saved, 0 AS replays FROM charges
                UNION ALL
                SELECT date(ts, 'unixepoch'), 0, 0, nano_usd, 1 FROM savings
            ) GROUP BY day ORDER BY day
            """
        ).fetchall()
        return [
            DayRow(day=day, spent_nano=spent, calls=calls, saved_nano=saved, replays=replays)
            for day, spent, calls, saved, replays in rows
        ]

    def clear_history(self) -> None:
        """Forget charges, savings and closed reservations; open ones start from zero."""
        self._conn.execute("DELETE FROM charges")
        self._conn.execute("DELETE FROM savings")
        self._conn.execute("DELETE FROM reservations WHERE state != 'open'")
        self._conn.execute("UPDATE reservations SET spent_nano = 0")


def _reservation(row: sqlite3.Row) -> ReservationRow:
    return ReservationRow(
        id=row["id"],
        ts=row["ts"],
        task_id=row["task_id"],
        mode=row["mode"],
        model=row["model"],
        project=row["project"],
        amount_nano=row["amount_nano"],
        spent_nano=row["spent_nano"],
        state=row["state"],
        owner=row["owner"],
    )


class Ledger:
    """The SQLite file and its schema; all access goes through :meth:`transaction`.

    The file is made on the first transaction, not when the ledger is opened; a
    reader (``create=False``) of a ledger that does not exist yet sees an empty one
    and creates nothing (``llmos budget`` in a fresh home).

    Example:
        >>> ledger = Ledger(tmp_path / "ledger.sqlite")
        >>> with ledger.transaction() as tx:
        ...     tx.spent_nano()
        0
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 15.0, create: bool = True) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.create = create
        self._ready = False

    def _connect(self, on_disk: bool) -> sqlite3.Connection:
        conn = connect(
            self.path if on_disk else Path(":memory:"), busy_timeout_s=self.busy_timeout_s
        )
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            if not on_disk:
                self._migrate(conn)
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    @contextmanager
    def transaction(self) -> Iterator[LedgerTx]:
        """One atomic read-then-write: committed on success, rolled back on any error.

        Raises:
            LLMOSError: another process held the ledger locked for longer
                than ``busy_timeout_s``.
            ConfigError: the file is not a ledger (or not a database).
        """
        try:
            on_disk = self._prepare()
            conn = self._connect(on_disk)
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            with transaction(conn):
                yield LedgerTx(conn)
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        finally:
            conn.close()

    def _prepare(self) -> bool:
        """Put the file and its schema in place once; False: read an empty ledger in memory."""
        if self._ready:
            return True
        if not self.create and not self.path.exists():
            return False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"cannot create the ledger {self.path}: {exc.strerror}") from exc
        conn = self._connect(True)
        try:
            with transaction(conn):
                self._migrate(conn)
        finally:
            conn.close()
        self._ready = True
        return True

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"{self.path} has ledger schema version {version}, but this llmos only "
                f"knows versions up to {SCHEMA_VERSION}; upgrade llmos, or point "
                "LLMOS_HOME at another folder",
                key="ledger",
            )
        for target, steps in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in steps:
                conn.execute(statement)
            # A pragma cannot take a bound parameter; ``target`` is an int we computed.
            conn.execute(f"PRAGMA user_version = {target}")

    def _translate(self, exc: sqlite3.Error) -> LLMOSError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return LedgerError(
                f"ledger {self.path} stayed locked by another llmos process for "
                f"{self.busy_timeout_s:.0f} s ({text}); try again when it has finished"
            )
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            return ConfigError(
                f"{self.path} is not a readable llmos ledger ({text}); move it aside and "
                "llmos starts a new one",
                key="ledger",
            )
        return LedgerError(f"ledger {self.path}: {text}")
