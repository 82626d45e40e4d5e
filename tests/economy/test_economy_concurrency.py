"""Separate OS processes sharing one ledger: no overspending, no lost charge, no damage."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from llmos.economy import TokenEconomy

WORKER = Path(__file__).with_name("economy_worker.py")
BUDGET_USD = 1.0
BUDGET_NANO = 1_000_000_000


def start(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ledger_rows(ledger: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(ledger)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def assert_consistent(ledger: Path) -> None:
    """Each reservation's spent is exactly the sum of its charges, and the file is sound."""
    assert ledger_rows(ledger, "PRAGMA integrity_check") == [("ok",)]
    mismatched = ledger_rows(
        ledger,
        "SELECT r.id, r.spent_nano, COALESCE(SUM(c.nano_usd), 0) FROM reservations r "
        "LEFT JOIN charges c ON c.reservation_id = r.id GROUP BY r.id "
        "HAVING r.spent_nano != COALESCE(SUM(c.nano_usd), 0)",
    )
    assert mismatched == []


@pytest.mark.slow
def test_eight_processes_sharing_a_small_budget_never_overspend_or_lose_a_charge(
    tmp_path: Path,
) -> None:
    # The ledger does not exist yet: the eight processes also race to create it.
    ledger = tmp_path / "ledger.sqlite"
    workers = [start("spend", ledger, BUDGET_USD, seed, 15) for seed in range(8)]
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        reports.append(json.loads(out))

    ((spent_nano, charges),) = ledger_rows(ledger, "SELECT SUM(nano_usd), COUNT(*) FROM charges")
    assert spent_nano <= BUDGET_NANO
    assert spent_nano == sum(r["charged_nano"] for r in reports)
    assert charges == sum(r["charges"] for r in reports)
    # 8 x 15 reservations of $0.02-0.06 ask for ~$4.80: the budget was fought over, and used.
    assert sum(r["refusals"] for r in reports) > 0
    assert spent_nano > 0.9 * BUDGET_NANO
    assert_consistent(ledger)
    report = TokenEconomy(ledger, budget_usd=BUDGET_USD).report()
    assert report.open_reservations == 0 and report.reserved_usd == 0


@pytest.mark.slow
def test_processes_killed_while_charging_leave_a_consistent_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    for seed in range(3):
        worker = start("drain", ledger, BUDGET_USD, seed)
        assert worker.stdout is not None
        for _ in range(20 + 15 * seed):  # kill at a different point each time
            assert worker.stdout.readline() == "charged\n"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=120)
        worker.stdout.close()
        worker.stderr.close()  # type: ignore[union-attr]
        assert_consistent(ledger)

    economy = TokenEconomy(ledger, budget_usd=BUDGET_USD)
    report = economy.report()
    # The killed processes' reservations went back to the budget.
    assert report.open_reservations == 0
    states = ledger_rows(ledger, "SELECT state FROM reservations")
    assert states == [("abandoned",)] * 3
    assert report.balance_usd == pytest.approx(BUDGET_USD - report.spent_usd, abs=1e-9)
    economy.release(economy.reserve("after", report.balance_usd, mode="learner"))


@pytest.mark.slow
def test_a_charge_cut_off_mid_transaction_is_rolled_back(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    worker = start("hold", ledger, BUDGET_USD, 0)
    assert worker.stdout is not None
    assert worker.stdout.readline() == "holding\n"  # charge written, reservation not updated
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=120)
    worker.stdout.close()
    worker.stderr.close()  # type: ignore[union-attr]

    assert ledger_rows(ledger, "SELECT COUNT(*) FROM charges") == [(0,)]
    assert_consistent(ledger)
    # The dead writer's lock is gone and its reservation is reclaimed: the whole budget fits.
    economy = TokenEconomy(ledger, budget_usd=BUDGET_USD, busy_timeout_s=5)
    reservation = economy.reserve("after", BUDGET_USD, mode="learner")
    assert reservation.amount_usd == BUDGET_USD
