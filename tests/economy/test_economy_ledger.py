"""The SQLite ledger: schema and migrations, round trips, locking, and who owns a reservation."""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from llmos.economy import Ledger
from llmos.economy import ledger as ledger_module
from llmos.economy.ledger import (
    SCHEMA_VERSION,
    ChargeRow,
    DayRow,
    GroupRow,
    current_owner,
    from_nano,
    owner_alive,
    to_nano,
)
from llmos.errors import ConfigError, LLMOSError
from llmos.messages import Usage

DAY = 86_400.0
T0 = 1_764_000_000.0  # 2025-11-24 16:00 UTC


def charge(ts: float, model: str, nano: int, *, mode: str = "learner", **usage: int) -> ChargeRow:
    return ChargeRow(
        ts=ts,
        task_id="t-1",
        reservation_id=None,
        mode=mode,
        model=model,
        project=None,
        usage=Usage(**usage),
        nano_usd=nano,
        priced=True,
    )


def _opened(path: Path) -> Ledger:
    """A ledger after its first transaction (the file is made then, not when opened)."""
    ledger = Ledger(path)
    with ledger.transaction():
        pass
    return ledger


def test_opening_a_ledger_creates_nothing_until_it_is_used(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "ledger.sqlite"
    reader = Ledger(path, create=False)
    with reader.transaction() as tx:
        assert tx.spent_nano() == 0  # a missing ledger reads as an empty one
    assert not (tmp_path / "deep").exists()
    Ledger(path)
    assert not (tmp_path / "deep").exists()


def test_a_new_ledger_is_in_wal_mode_at_the_current_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "ledger.sqlite"
    _opened(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert {"charges", "savings", "reservations", "settings"} <= tables


def test_rows_round_trip(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    with ledger.transaction() as tx:
        tx.set_setting("budget.total_usd", "5.0")
        reservation = tx.insert_reservation(
            ts=T0,
            task_id="t-1",
            mode="learner",
            model="m",
            project="p",
            amount_nano=500,
            owner=current_owner(),
        )
        tx.grow_reservation(reservation.id, amount_nano=100, spent_nano=40)
        tx.insert_charge(charge(T0, "claude-haiku-4-5", 40, input_tokens=10, output_tokens=2))
        tx.insert_charge(charge(T0 + DAY, "gpt-4o", 60, mode="orchestrator", cache_read_tokens=7))
        tx.insert_saving(ts=T0 + DAY, task_id="t-2", trace_id="abc", nano_usd=25)
    with ledger.transaction() as tx:
        assert tx.get_setting("budget.total_usd") == "5.0"
        (stored,) = tx.open_reservations()
        assert (stored.amount_nano, stored.spent_nano, stored.state) == (600, 40, "open")
        assert (stored.model, stored.project, stored.owner) == ("m", "p", current_owner())
        assert tx.spent_nano() == 100 and tx.saved_nano() == 25
        assert tx.charge_count() == 2 and tx.replay_count() == 1
        assert tx.spending_by("mode") == [
            GroupRow(key="orchestrator", nano_usd=60, calls=1, usage=Usage(cache_read_tokens=7)),
            GroupRow(
                key="learner", nano_usd=40, calls=1, usage=Usage(input_tokens=10, output_tokens=2)
            ),
        ]
        assert tx.by_day() == [
            DayRow(day="2025-11-24", spent_nano=40, calls=1, saved_nano=0, replays=0),
            DayRow(day="2025-11-25", spent_nano=60, calls=1, saved_nano=25, replays=1),
        ]
        tx.close_reservations([stored.id], "released", T0)
        tx.set_setting("budget.total_usd", None)
    with ledger.transaction() as tx:
        assert tx.open_reservations() == []
        assert tx.reservation(stored.id).state == "released"  # type: ignore[union-attr]
        assert tx.get_setting("budget.total_usd") is None


def test_an_error_inside_a_transaction_rolls_it_back(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    with pytest.raises(RuntimeError), ledger.transaction() as tx:
        tx.insert_charge(charge(T0, "gpt-4o", 60))
        raise RuntimeError("half done")
    with ledger.transaction() as tx:
        assert tx.charge_count() == 0


def test_grouping_refuses_a_column_it_does_not_know(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite").transaction() as tx, pytest.raises(ValueError):
        tx.spending_by("usd; DROP TABLE charges")  # type: ignore[arg-type]


def test_money_is_stored_in_exact_nanodollars() -> None:
    assert to_nano(0.1) + to_nano(0.2) == to_nano(0.3)
    assert from_nano(to_nano(0.0035)) == 0.0035


def test_a_later_schema_step_migrates_an_existing_ledger_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path).transaction() as tx:
        tx.insert_saving(ts=T0, task_id="t", trace_id="abc", nano_usd=7)
    step = ("ALTER TABLE savings ADD COLUMN note TEXT DEFAULT 'migrated'",)
    monkeypatch.setattr(ledger_module, "MIGRATIONS", (*ledger_module.MIGRATIONS, step))
    monkeypatch.setattr(ledger_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    _opened(path)
    _opened(path)  # already migrated: the step must not run again (it would fail)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION + 1,)
        assert conn.execute("SELECT nano_usd, note FROM savings").fetchall() == [(7, "migrated")]
    finally:
        conn.close()


def test_a_ledger_from_a_newer_llmos_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    message = (
        f"{path} has ledger schema version {SCHEMA_VERSION + 5}, but this llmos only knows "
        f"versions up to {SCHEMA_VERSION}; upgrade llmos, or point LLMOS_HOME at another folder"
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        _opened(path)


def test_a_file_that_is_not_a_database_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    path.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(ConfigError, match="is not a readable llmos ledger") as caught:
        _opened(path)
    assert str(path) in str(caught.value) and "move it aside" in str(caught.value)


def test_a_ledger_locked_too_long_by_another_writer_says_so(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path, busy_timeout_s=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with (
            pytest.raises(LLMOSError, match="stayed locked by another llmos process"),
            ledger.transaction(),
        ):
            pass
    finally:
        other.rollback()
        other.close()
    with ledger.transaction() as tx:  # usable again once the lock is gone
        assert tx.spent_nano() == 0


def test_owners_are_alive_until_their_process_ends() -> None:
    assert owner_alive(current_owner())
    finished = subprocess.run(
        [sys.executable, "-c", "from llmos.economy.ledger import current_owner as o; print(o())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert not owner_alive(finished.stdout.strip())
    host, pid, start = current_owner().split(":")
    assert not owner_alive(f"{host}:{pid}:{int(start) + 1}")  # the pid was reused
    assert owner_alive(f"elsewhere-{socket.gethostname()}:1:1")  # another host: not judged
