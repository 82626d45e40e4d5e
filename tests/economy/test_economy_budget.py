"""TokenEconomy: reservations, refusals, budget precedence, reports, reset and estimates."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmos.economy import (
    DaySummary,
    Reservation,
    SpendGroup,
    TokenEconomy,
    estimate_learner_cost,
)
from llmos.economy.estimate import DEFAULT_TURNS, TYPICAL_OUTPUT_TOKENS, TYPICAL_PROMPT_TOKENS
from llmos.errors import BudgetExceeded, LLMOSError
from llmos.messages import Usage

HAIKU = "claude-haiku-4-5"  # $1 in, $5 out per million
SONNET = "claude-sonnet-4-5"  # $3 in, $15 out per million
DAY = 86_400.0
T0 = 1_764_000_000.0  # 2025-11-24 16:00 UTC


def out_tokens(usd: float) -> Usage:
    """Haiku output tokens that cost exactly ``usd`` (in steps of $0.000005)."""
    return Usage(output_tokens=round(usd / 5 * 1_000_000))


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "workspace" / "ledger.sqlite"


def test_reserve_deduct_release_round_trip(ledger_path: Path) -> None:
    economy = TokenEconomy(ledger_path, budget_usd=1.0)
    reservation = economy.reserve("t-1", 0.2, mode="learner", model=HAIKU, project="demo")
    assert reservation == Reservation(
        id=reservation.id,
        task_id="t-1",
        mode="learner",
        amount_usd=0.2,
        model=HAIKU,
        project="demo",
    )
    usage = Usage(input_tokens=2000, output_tokens=300)
    cost = economy.charge(reservation, model=HAIKU, usage=usage)
    assert cost == pytest.approx(0.0035)
    assert reservation.spent_usd == pytest.approx(0.0035)
    assert reservation.left_usd == pytest.approx(0.1965)
    assert economy.check_budget(0.0).reserved_usd == pytest.approx(0.1965)
    assert economy.release(reservation) == pytest.approx(0.1965)
    assert reservation.state == "released"
    assert economy.release(reservation) == 0.0  # idempotent
    status = economy.check_budget(0.9)
    assert (status.ok, status.reserved_usd) == (True, 0.0)
    assert status.spent_usd == pytest.approx(0.0035)
    assert status.left_usd == pytest.approx(0.9965)


def test_a_refusal_says_what_running_tasks_hold(ledger_path: Path) -> None:
    """Money set aside for running tasks is not gone: the message says so (issue 15, 9)."""
    economy = TokenEconomy(ledger_path, budget_usd=1.0)
    economy.reserve("t-1", 0.4, mode="learner")
    economy.reserve("t-2", 0.4, mode="learner")
    message = (
        "budget: $0.20 left ($0.80 more is held by 2 running task(s) and comes back as they "
        "finish), this task needs about $0.36; raise it with `llmos budget set N`"
    )
    with pytest.raises(BudgetExceeded, match=f"^{re.escape(message)}$"):
        economy.reserve("t-3", 0.36, mode="learner")


def test_a_task_that_does_not_fit_is_refused_with_the_estimate_and_the_balance(
    ledger_path: Path,
) -> None:
    economy = TokenEconomy(ledger_path, budget_usd=1.0)
    economy.charge(economy.reserve("t-1", 0.5, mode="learner"), model=HAIKU, usage=out_tokens(0.5))
    message = "budget: $0.50 left, this task needs about $0.62; raise it with `llmos budget set N`"
    with pytest.raises(BudgetExceeded, match=f"^{re.escape(message)}$") as caught:
        economy.reserve("t-2", 0.62, mode="learner")
    assert caught.value.needed_usd == pytest.approx(0.62)
    assert caught.value.left_usd == pytest.approx(0.5)
    status = economy.check_budget(0.62)
    assert not status.ok and status.reason == message
    assert economy.check_budget(0.5).ok


def test_open_reservations_hold_their_money_until_released(ledger_path: Path) -> None:
    economy = TokenEconomy(ledger_path, budget_usd=1.0)
    first = economy.reserve("t-1", 0.6, mode="learner")
    with pytest.raises(BudgetExceeded) as caught:
        economy.reserve("t-2", 0.5, mode="learner")
    assert caught.value.left_usd == pytest.approx(0.4)
    economy.charge(first, model=HAIKU, usage=out_tokens(0.1))
    economy.release(first)  # $0.50 of it comes back
    second = economy.reserve("t-2", 0.5, mode="learner")
    assert economy.check_budget(0).left_usd == pytest.approx(0.4)
    economy.release(second)


def test_the_per_task_limit_caps_a_reservation_and_its_growth(ledger_path: Path) -> None:
    economy = TokenEconomy(ledger_path, per_task_budget_usd=0.3)
    message = (
        "budget: a task may spend at most $0.30 ($0.30 of it left), this task needs about "
        "$0.40; raise budget.per_task_usd in llmos.toml (or LLMOS_BUDGET__PER_TASK_USD)"
    )
    with pytest.raises(BudgetExceeded, match=f"^{re.escape(message)}$"):
        economy.reserve("t-1", 0.4, mode="learner")
    reservation = economy.reserve("t-1", 0.25, mode="learner")
    economy.extend(reservation, 0.05)
    assert reservation.amount_usd == pytest.approx(0.3)
    with pytest.raises(BudgetExceeded) as caught:
        economy.extend(reservation, 0.01)
    assert (caught.value.needed_usd, caught.value.left_usd) == (pytest.approx(0.01), 0.0)


def test_extend_grows_a_reservation_only_while_the_total_has_room(ledger_path: Path) -> None:
    economy = TokenEconomy(ledger_path, budget_usd=1.0)
    reservation = economy.reserve("t-1", 0.5, mode="learner")
    other = economy.reserve("t-2", 0.3, mode="learner")
    economy.extend(reservation, 0.15)
    assert reservation.amount_usd == pytest.approx(0.65)
    with pytest.raises(BudgetExceeded, match="the next call needs about") as caught:
        economy.extend(reservation, 0.1)
    assert caught.value.left_usd == pytest.approx(0.05)
    economy.release(other)
    economy.release(reservation)
    with pytest.raises(LLMOSError, match=f"reservation {reservation.id} of task t-1 is released"):
        economy.extend(reservation, 0.01)


def test_a_charge_is_recorded_even_past_its_reservation(ledger_path: Path) -> None:
    """The ledger records what was spent; stopping calls beforehand is the hook's job."""
    economy = TokenEconomy(ledger_path, budget_usd=1.0)
    reservation = economy.reserve("t-1", 0.1, mode="learner")
    assert economy.charge(reservation, model=HAIKU, usage=out_tokens(0.25)) == pytest.approx(0.25)
    assert (reservation.spent_usd, reservation.left_usd) == (pytest.approx(0.25), 0.0)
    economy.release(reservation)
    economy.charge(reservation, model=HAIKU, usage=out_tokens(0.05))  # a late report
    report = economy.report()
    assert report.spent_usd == pytest.approx(0.3)
    assert report.balance_usd == pytest.approx(0.7)


def test_an_unlimited_budget_admits_any_amount(ledger_path: Path) -> None:
    economy = TokenEconomy(ledger_path)
    reservation = economy.reserve("t-1", 1e6, mode="learner")
    status = economy.check_budget(1e9)
    assert status.ok and status.total_usd is None and status.left_usd is None
    economy.release(reservation)


@pytest.mark.parametrize("amount", [-0.01, float("nan"), float("inf")])
def test_amounts_must_be_finite_and_not_negative(ledger_path: Path, amount: float) -> None:
    economy = TokenEconomy(ledger_path)
    with pytest.raises(ValueError, match="must be a finite number of dollars >= 0"):
        economy.reserve("t-1", amount, mode="learner")
    with pytest.raises(ValueError, match="must be a finite number of dollars >= 0"):
        economy.credit_saving("t-1", "abc", amount)


def test_the_budget_set_in_the_ledger_wins_over_settings_for_every_process(
    ledger_path: Path,
) -> None:
    economy = TokenEconomy(ledger_path, budget_usd=5.0)
    assert (economy.report().total_usd, economy.report().budget_source) == (5.0, "config")
    economy.set_budget(2.0)
    elsewhere = TokenEconomy(ledger_path, budget_usd=5.0)  # another process's view
    assert (elsewhere.report().total_usd, elsewhere.report().budget_source) == (2.0, "ledger")
    with pytest.raises(BudgetExceeded):
        elsewhere.reserve("t-1", 3.0, mode="learner")
    economy.set_budget(None)
    assert (elsewhere.report().total_usd, elsewhere.report().budget_source) == (5.0, "config")
    assert TokenEconomy(ledger_path).report().budget_source == "unlimited"


def test_a_dead_process_reservation_goes_back_to_the_budget(ledger_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from llmos.economy import TokenEconomy; "
        "TokenEconomy(Path(sys.argv[1]), budget_usd=1.0).reserve('t-x', 0.8, mode='learner')"
    )
    subprocess.run([sys.executable, "-c", script, str(ledger_path)], check=True)
    economy = TokenEconomy(ledger_path, budget_usd=1.0)
    report = economy.report()
    assert (report.open_reservations, report.reserved_usd, report.balance_usd) == (0, 0.0, 1.0)
    assert economy.reserve("t-1", 1.0, mode="learner").amount_usd == 1.0


def test_the_report_groups_spending_and_savings(ledger_path: Path) -> None:
    now = [T0]
    economy = TokenEconomy(ledger_path, budget_usd=10.0, clock=lambda: now[0])
    learner = economy.reserve("t-1", 1.0, mode="learner", project="web")
    economy.charge(learner, model=SONNET, usage=Usage(input_tokens=10_000, output_tokens=1_000))
    economy.charge(learner, model=HAIKU, usage=Usage(input_tokens=5_000, cache_read_tokens=20_000))
    now[0] = T0 + DAY
    economy.charge(learner, model="mystery-7b", usage=Usage(input_tokens=100), mode="orchestrator")
    economy.charge(learner, model=SONNET, usage=Usage(output_tokens=2_000), mode="orchestrator")
    economy.credit_saving("t-2", "3f9c", 0.031)
    economy.credit_saving("t-3", "3f9c", 0.031)
    open_one = economy.reserve("t-4", 0.25, mode="learner")

    report = economy.report()
    sonnet_1 = 10_000 * 3e-6 + 1_000 * 15e-6  # 0.045
    haiku = 5_000 * 1e-6 + 20_000 * 0.1e-6  # 0.007
    sonnet_2 = 2_000 * 15e-6  # 0.03
    spent = sonnet_1 + haiku + sonnet_2
    assert report.spent_usd == pytest.approx(spent)
    assert report.saved_usd == pytest.approx(0.062)
    assert (report.calls, report.replays, report.open_reservations) == (4, 2, 2)
    assert report.reserved_usd == pytest.approx(1.0 - spent + 0.25)
    assert report.balance_usd == pytest.approx(10.0 - 1.0 - 0.25)
    assert report.unpriced_models == ("mystery-7b",)
    assert report.by_day == (
        DaySummary(
            day="2025-11-24",
            spent_usd=pytest.approx(sonnet_1 + haiku),
            saved_usd=0.0,
            calls=2,
            replays=0,
        ),
        DaySummary(
            day="2025-11-25", spent_usd=pytest.approx(sonnet_2), saved_usd=0.062, calls=2, replays=2
        ),
    )
    assert report.by_mode == (
        SpendGroup(
            key="learner",
            spent_usd=pytest.approx(sonnet_1 + haiku),
            calls=2,
            usage=Usage(input_tokens=15_000, output_tokens=1_000, cache_read_tokens=20_000),
        ),
        SpendGroup(
            key="orchestrator",
            spent_usd=pytest.approx(sonnet_2),
            calls=2,
            usage=Usage(input_tokens=100, output_tokens=2_000),
        ),
    )
    assert [(g.key, g.calls) for g in report.by_model] == [
        (SONNET, 2),
        (HAIKU, 1),
        ("mystery-7b", 1),
    ]
    assert [(g.key, g.calls) for g in report.by_project] == [("web", 4)]
    economy.release(open_one)


def test_reset_forgets_history_but_keeps_the_budget_and_running_tasks(ledger_path: Path) -> None:
    economy = TokenEconomy(ledger_path)
    economy.set_budget(3.0)
    done = economy.reserve("t-1", 0.5, mode="learner")
    economy.charge(done, model=HAIKU, usage=out_tokens(0.2))
    economy.release(done)
    running = economy.reserve("t-2", 0.5, mode="learner")
    economy.charge(running, model=HAIKU, usage=out_tokens(0.1))
    economy.credit_saving("t-3", "abc", 0.02)

    economy.reset()
    report = economy.report()
    assert (report.spent_usd, report.saved_usd, report.calls, report.replays) == (0, 0, 0, 0)
    assert (report.total_usd, report.open_reservations, report.reserved_usd) == (3.0, 1, 0.5)
    assert economy.charge(running, model=HAIKU, usage=out_tokens(0.1)) == pytest.approx(0.1)
    assert running.spent_usd == pytest.approx(0.1)


# ---------------------------------------------------------------- estimates


def test_without_history_a_learner_run_is_priced_as_a_typical_run() -> None:
    typical = DEFAULT_TURNS * (TYPICAL_PROMPT_TOKENS * 3 + TYPICAL_OUTPUT_TOKENS * 15) / 1e6
    assert estimate_learner_cost([], SONNET, 4096) == pytest.approx(typical) == pytest.approx(0.36)
    assert estimate_learner_cost([], "mystery-7b", 4096) == 0.0


def test_an_estimate_always_covers_one_worst_case_first_call() -> None:
    first_call = (TYPICAL_PROMPT_TOKENS * 3 + 64_000 * 15) / 1e6
    assert estimate_learner_cost([], SONNET, 64_000) == pytest.approx(first_call)
    tiny = [(Usage(input_tokens=100, output_tokens=10), 0.0)]
    assert estimate_learner_cost(tiny, SONNET, 4096) == pytest.approx(
        (TYPICAL_PROMPT_TOKENS * 3 + 4096 * 15) / 1e6
    )


def test_with_history_the_estimate_is_a_high_percentile_repriced_for_the_model() -> None:
    # Ten similar runs; their recorded costs (on another model) are ignored for a priced model.
    history = [
        (Usage(input_tokens=20_000 * n, output_tokens=2_000 * n), 99.0) for n in range(1, 11)
    ]
    p90 = 9 * (20_000 * 3 + 2_000 * 15) / 1e6  # the 9th of 10 by nearest rank
    assert estimate_learner_cost(history, SONNET, 1024) == pytest.approx(p90 * 1.25)
    # A model without a price falls back on the recorded costs.
    recorded = [(Usage(), cost) for cost in (0.1, 0.2, 0.3)]
    assert estimate_learner_cost(recorded, "mystery-7b", 1024) == pytest.approx(0.3 * 1.25)
