"""The token economy: a budget, reservations against it, and what was spent and saved.

A task reserves its estimated cost before it starts (:meth:`TokenEconomy.reserve`).
The reservation is checked and written in one transaction, and the rule it
checks is: money spent + the unspent part of every open reservation never
exceeds the total budget. So however many llmos processes share the ledger,
their admitted tasks together can only spend what the budget holds. While the
task runs each LLM call is charged at real prices against its reservation
(:meth:`~TokenEconomy.charge`); the budget hook may grow the reservation if
the budget has room (:meth:`~TokenEconomy.extend`); at the end the unspent part
goes back (:meth:`~TokenEconomy.release`). A reservation whose process died
(killed, crashed) is reclaimed by the next transaction that looks at the budget.

The total budget is, in order: the value stored in the ledger by
``llmos budget set N`` (it is persistent and shared by every process using the
workspace), else ``budget.total_usd`` from settings, else unlimited.
``llmos budget set none`` removes the stored value, so settings apply again.
The per-task limit (``budget.per_task_usd``) caps one reservation.

For programs that embed llmos and keep their own accounts, the same ledger
takes a plain check and a plain charge::

    economy = TokenEconomy(budget_usd=10.0)        # the workspace's ledger
    if status := economy.check_budget(0.50):       # falsy when refused
        economy.deduct(0.45, "Learn: Create script")
    else:
        print(status.reason)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from llmos.config import MAX_USD, Settings, resolve_workspace
from llmos.economy.ledger import (
    ChargeRow,
    GroupRow,
    Ledger,
    LedgerTx,
    ReservationRow,
    ReservationState,
    current_owner,
    from_nano,
    owner_alive,
    to_nano,
)
from llmos.economy.prices import DEFAULT_PRICES, PriceTable, format_shortfall, format_usd
from llmos.errors import BudgetExceeded, LedgerError
from llmos.messages import Usage
from llmos.workspace import Workspace

BUDGET_SETTING = "budget.total_usd"
RAISE_TOTAL = "raise it with `llmos budget set N`"
RAISE_PER_TASK = "raise budget.per_task_usd in llmos.toml (or LLMOS_BUDGET__PER_TASK_USD)"
BudgetSource = Literal["ledger", "config", "unlimited"]
#: The mode (and model) of charges recorded by :meth:`TokenEconomy.deduct`.
EXTERNAL = "external"


@dataclass(slots=True, kw_only=True)
class Reservation:
    """A task's claim on the budget, kept up to date by the economy's calls.

    ``amount_usd`` is what is set aside (it grows with :meth:`TokenEconomy.extend`),
    ``spent_usd`` what the task's calls have cost so far.
    """

    id: int
    task_id: str
    mode: str
    amount_usd: float
    spent_usd: float = 0.0
    state: ReservationState = "open"
    model: str | None = None
    project: str | None = None

    @property
    def left_usd(self) -> float:
        return max(0.0, self.amount_usd - self.spent_usd)


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetStatus:
    """Whether ``needed_usd`` fits (the status is truthy) or not (falsy, with ``reason``).

    ``left_usd`` (also ``remaining``) is None when the budget is unlimited.
    """

    needed_usd: float
    ok: bool
    total_usd: float | None
    spent_usd: float
    reserved_usd: float
    left_usd: float | None
    per_task_usd: float | None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok

    @property
    def remaining(self) -> float | None:
        return self.left_usd


@dataclass(frozen=True, slots=True, kw_only=True)
class SpendGroup:
    """Spending under one mode, model or project."""

    key: str
    spent_usd: float
    calls: int
    usage: Usage


@dataclass(frozen=True, slots=True, kw_only=True)
class DaySummary:
    """One UTC day: what LLM calls cost and what replays saved."""

    day: str
    spent_usd: float
    saved_usd: float
    calls: int
    replays: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EconomyReport:
    """Everything ``llmos budget`` shows. ``balance_usd`` is None when unlimited.

    ``balance_usd`` = total - spent - reserved: what a new task may still reserve.
    """

    total_usd: float | None
    budget_source: BudgetSource
    per_task_usd: float | None
    spent_usd: float
    reserved_usd: float
    saved_usd: float
    balance_usd: float | None
    calls: int
    replays: int
    open_reservations: int
    unpriced_models: tuple[str, ...]
    by_day: tuple[DaySummary, ...]
    by_mode: tuple[SpendGroup, ...]
    by_model: tuple[SpendGroup, ...]
    by_project: tuple[SpendGroup, ...]


@dataclass(frozen=True, slots=True)
class _Book:
    """The budget as one transaction sees it, in nanodollars."""

    total: int | None
    source: BudgetSource
    spent: int
    reserved: int
    open_count: int

    @property
    def left(self) -> int | None:
        return None if self.total is None else self.total - self.spent - self.reserved


def _nano_amount(usd: float, what: str) -> int:
    if not math.isfinite(usd) or not 0 <= usd <= MAX_USD:
        raise ValueError(
            f"{what} must be a finite number of dollars >= 0 (at most {MAX_USD:,.0f}), got {usd!r}"
        )
    return to_nano(usd)


def _sync(reservation: Reservation, row: ReservationRow) -> None:
    reservation.amount_usd = from_nano(row.amount_nano)
    reservation.spent_usd = from_nano(row.spent_nano)
    reservation.state = row.state


def held_note(held_usd: float, held_by: int) -> str:
    """What running tasks hold, for a refusal: money set aside is not spent, it comes back."""
    if held_usd <= 0 or held_by <= 0:
        return ""
    return (
        f" ({format_usd(held_usd)} more is held by {held_by} running task(s) "
        "and comes back as they finish)"
    )


def _over_total(needed: int, left: int, what: str, held: int, held_by: int) -> BudgetExceeded:
    left = max(left, 0)
    needed_text, left_text = format_shortfall(from_nano(needed), from_nano(left))
    return BudgetExceeded(
        f"budget: {left_text} left{held_note(from_nano(held), held_by)}, {what} about "
        f"{needed_text}; {RAISE_TOTAL}",
        needed_usd=from_nano(needed),
        left_usd=from_nano(left),
        held_usd=from_nano(held),
        held_by=held_by,
    )


def _over_per_task(needed: int, cap: int, room: int) -> BudgetExceeded:
    room = max(room, 0)
    needed_text, room_text = format_shortfall(from_nano(needed), from_nano(room))
    return BudgetExceeded(
        f"budget: a task may spend at most {format_usd(from_nano(cap))} "
        f"({room_text} of it left), this task needs about {needed_text}; {RAISE_PER_TASK}",
        needed_usd=from_nano(needed),
        left_usd=from_nano(room),
        per_task_usd=from_nano(cap),
    )


class TokenEconomy:
    """The budget and ledger of one workspace, safe to share between processes.

    Calls are synchronous and short (one SQLite transaction each); from async
    code that must not block the loop even under lock contention, run them with
    ``asyncio.to_thread``.

    Example:
        >>> economy = TokenEconomy(workspace / "ledger.sqlite", budget_usd=1.0)
        >>> reservation = economy.reserve("t-1", 0.20, mode="learner", model="claude-haiku-4-5")
        >>> economy.charge(reservation, model="claude-haiku-4-5",
        ...                usage=Usage(input_tokens=2000, output_tokens=300))
        0.0035
        >>> economy.release(reservation)  # the unspent part goes back
        0.1965
    """

    def __init__(
        self,
        ledger_path: Path | str | None = None,
        *,
        budget_usd: float | None = None,
        workspace: Path | str | None = None,
        per_task_budget_usd: float | None = None,
        prices: PriceTable = DEFAULT_PRICES,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = 15.0,
        create: bool = True,
    ) -> None:
        if ledger_path is None:
            ledger_path = Workspace(resolve_workspace(workspace)).ledger
        self.ledger = Ledger(Path(ledger_path), busy_timeout_s=busy_timeout_s, create=create)
        self.prices = prices
        self.clock = clock
        self._config_total = None if budget_usd is None else _nano_amount(budget_usd, "the budget")
        self._per_task = (
            None
            if per_task_budget_usd is None
            else _nano_amount(per_task_budget_usd, "the per-task budget")
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, prices: PriceTable = DEFAULT_PRICES, create: bool = True
    ) -> TokenEconomy:
        """The economy of ``settings.workspace``, with its ``[budget]`` settings
        (``create=False``: only read, so a missing ledger is an empty one, not a new file)."""
        return cls(
            Workspace(settings.workspace).ledger,
            budget_usd=settings.budget.total_usd,
            per_task_budget_usd=settings.budget.per_task_usd,
            prices=prices,
            create=create,
        )

    @property
    def per_task_budget_usd(self) -> float | None:
        return None if self._per_task is None else from_nano(self._per_task)

    # ------------------------------------------------------------ the budget

    def _book(self, tx: LedgerTx) -> _Book:
        """Read the budget, reclaiming open reservations whose process has ended."""
        alive: dict[str, bool] = {current_owner(): True}
        live: list[ReservationRow] = []
        dead: list[int] = []
        for row in tx.open_reservations():
            if row.owner not in alive:
                alive[row.owner] = owner_alive(row.owner)
            if alive[row.owner]:
                live.append(row)
            else:
                dead.append(row.id)
        if dead:
            tx.close_reservations(dead, "abandoned", self.clock())
        stored = tx.get_setting(BUDGET_SETTING)
        total: int | None
        source: BudgetSource
        if stored is not None:
            total, source = to_nano(json.loads(stored)), "ledger"
        elif self._config_total is not None:
            total, source = self._config_total, "config"
        else:
            total, source = None, "unlimited"
        return _Book(
            total=total,
            source=source,
            spent=tx.spent_nano(),
            reserved=sum(max(r.amount_nano - r.spent_nano, 0) for r in live),
            open_count=len(live),
        )

    def check_budget(self, amount_usd: float) -> BudgetStatus:
        """Whether a task needing ``amount_usd`` would be admitted now (nothing is reserved)."""
        needed = _nano_amount(amount_usd, "the amount")
        with self.ledger.transaction() as tx:
            book = self._book(tx)
        refusal = self._refusal(book, needed, room_in_task=self._per_task)
        return BudgetStatus(
            needed_usd=from_nano(needed),
            ok=refusal is None,
            total_usd=None if book.total is None else from_nano(book.total),
            spent_usd=from_nano(book.spent),
            reserved_usd=from_nano(book.reserved),
            left_usd=None if book.left is None else from_nano(max(book.left, 0)),
            per_task_usd=self.per_task_budget_usd,
            reason="" if refusal is None else str(refusal),
        )

    def _refusal(
        self,
        book: _Book,
        needed: int,
        *,
        room_in_task: int | None,
        what: str = "this task needs",
        own: ReservationRow | None = None,
    ) -> BudgetExceeded | None:
        """Why ``needed`` more cannot be set aside, or None when it can.

        ``own`` is the reservation asking to grow: what it holds is not "held by others".
        """
        if self._per_task is not None and room_in_task is not None and needed > room_in_task:
            return _over_per_task(needed, self._per_task, room_in_task)
        if book.left is not None and needed > book.left:
            held, held_by = book.reserved, book.open_count
            if own is not None:
                held, held_by = held - max(own.amount_nano - own.spent_nano, 0), held_by - 1
            return _over_total(needed, book.left, what, held, held_by)
        return None

    def reserve(
        self,
        task_id: str,
        amount_usd: float,
        *,
        mode: str,
        model: str | None = None,
        project: str | None = None,
    ) -> Reservation:
        """Set ``amount_usd`` aside for a task, or refuse it before any work is done.

        ``model`` is the model the estimate was priced with; the budget hook
        prices the task's calls with it when the call does not name one.

        Raises:
            BudgetExceeded: the amount is over the per-task limit or over what
                is left of the total (``needed_usd`` and ``left_usd`` say by how much).
        """
        needed = _nano_amount(amount_usd, "the amount to reserve")
        with self.ledger.transaction() as tx:
            refusal = self._refusal(self._book(tx), needed, room_in_task=self._per_task)
            if refusal is not None:
                raise refusal
            row = tx.insert_reservation(
                ts=self.clock(),
                task_id=task_id,
                mode=mode,
                model=model,
                project=project,
                amount_nano=needed,
                owner=current_owner(),  # read now, not at init: a forked child is another owner
            )
        return Reservation(
            id=row.id,
            task_id=task_id,
            mode=mode,
            amount_usd=from_nano(row.amount_nano),
            model=model,
            project=project,
        )

    def _open_row(self, tx: LedgerTx, reservation: Reservation) -> ReservationRow:
        row = tx.reservation(reservation.id)
        if row is None or row.state != "open":
            state = "gone (the ledger was reset)" if row is None else row.state
            raise LedgerError(
                f"reservation {reservation.id} of task {reservation.task_id} is {state}; "
                "reserve again before spending more"
            )
        return row

    def extend(self, reservation: Reservation, amount_usd: float) -> None:
        """Set ``amount_usd`` more aside for a running task, under the same rules as reserve.

        Raises:
            BudgetExceeded: there is not that much room; ``left_usd`` is how
                much the reservation could still grow.
            LLMOSError: the reservation is no longer open.
        """
        more = _nano_amount(amount_usd, "the amount to add")
        with self.ledger.transaction() as tx:
            row = self._open_row(tx, reservation)
            room = None if self._per_task is None else self._per_task - row.amount_nano
            book = self._book(tx)
            refusal = self._refusal(
                book, more, room_in_task=room, what="the next call needs", own=row
            )
            if refusal is not None:
                raise refusal
            tx.grow_reservation(row.id, amount_nano=more)
            row = self._open_row(tx, reservation)
        _sync(reservation, row)

    def charge(
        self, reservation: Reservation, *, model: str, usage: Usage, mode: str | None = None
    ) -> float:
        """Record one LLM call at real prices against the reservation; returns its cost.

        The charge is recorded even when it is more than the reservation has
        left: the money is spent. (The budget hook is what stops the call
        beforehand.) ``mode`` defaults to the reservation's.
        """
        quote = self.prices.cost_usd(model, usage)
        nano = to_nano(quote.usd)
        with self.ledger.transaction() as tx:
            row = tx.reservation(reservation.id)
            tx.insert_charge(
                ChargeRow(
                    ts=self.clock(),
                    task_id=reservation.task_id,
                    reservation_id=None if row is None else row.id,
                    mode=mode or reservation.mode,
                    model=model,
                    project=reservation.project,
                    usage=usage,
                    nano_usd=nano,
                    priced=quote.known,
                )
            )
            if row is not None:
                tx.grow_reservation(row.id, spent_nano=nano)
                row = tx.reservation(row.id)
        if row is not None:
            _sync(reservation, row)
        return from_nano(nano)

    def deduct(self, amount_usd: float, description: str) -> float:
        """Record ``amount_usd`` spent outside llmos (``description`` says on what).

        For embedders that price their own calls: the charge is listed under mode
        ``external`` with ``description`` as its task, and counts against the budget
        like any other. As with :meth:`charge`, it is recorded even when it is more
        than is left: check with :meth:`check_budget` first. Returns the amount.
        """
        nano = _nano_amount(amount_usd, "the amount to deduct")
        with self.ledger.transaction() as tx:
            tx.insert_charge(
                ChargeRow(
                    ts=self.clock(),
                    task_id=description,
                    reservation_id=None,
                    mode=EXTERNAL,
                    model=EXTERNAL,
                    project=None,
                    usage=Usage(),
                    nano_usd=nano,
                    priced=True,
                )
            )
        return from_nano(nano)

    def release(self, reservation: Reservation) -> float:
        """Close the reservation; returns the unspent part given back (0 if already closed)."""
        with self.ledger.transaction() as tx:
            row = tx.reservation(reservation.id)
            if row is None or row.state != "open":
                returned = 0
            else:
                tx.close_reservations([row.id], "released", self.clock())
                returned = max(row.amount_nano - row.spent_nano, 0)
                row = tx.reservation(row.id)
        if row is not None:
            _sync(reservation, row)
        return from_nano(returned)

    def credit_saving(self, task_id: str, trace_id: str, usd: float) -> None:
        """Record that replaying ``trace_id`` for free saved its learned cost ``usd``."""
        nano = _nano_amount(usd, "the saving")
        with self.ledger.transaction() as tx:
            tx.insert_saving(ts=self.clock(), task_id=task_id, trace_id=trace_id, nano_usd=nano)

    # ------------------------------------------------------------ settings and reports

    def set_budget(self, usd: float | None) -> None:
        """Store the total budget in the ledger (it wins over settings); None removes it."""
        value = None if usd is None else json.dumps(from_nano(_nano_amount(usd, "the budget")))
        with self.ledger.transaction() as tx:
            tx.set_setting(BUDGET_SETTING, value)

    def reset(self) -> None:
        """Forget all charges and savings; the stored budget and running tasks stay."""
        with self.ledger.transaction() as tx:
            tx.clear_history()

    def report(self) -> EconomyReport:
        """Balance, spending and savings, by day, mode, model and project."""
        with self.ledger.transaction() as tx:
            book = self._book(tx)
            saved = tx.saved_nano()
            calls = tx.charge_count()
            replays = tx.replay_count()
            unpriced = tuple(tx.unpriced_models())
            days = tx.by_day()
            groups = {column: tx.spending_by(column) for column in ("mode", "model", "project")}
        return EconomyReport(
            total_usd=None if book.total is None else from_nano(book.total),
            budget_source=book.source,
            per_task_usd=self.per_task_budget_usd,
            spent_usd=from_nano(book.spent),
            reserved_usd=from_nano(book.reserved),
            saved_usd=from_nano(saved),
            balance_usd=None if book.left is None else from_nano(book.left),
            calls=calls,
            replays=replays,
            open_reservations=book.open_count,
            unpriced_models=unpriced,
            by_day=tuple(
                DaySummary(
                    day=d.day,
                    spent_usd=from_nano(d.spent_nano),
                    saved_usd=from_nano(d.saved_nano),
                    calls=d.calls,
                    replays=d.replays,
                )
                for d in days
            ),
            by_mode=_groups(groups["mode"]),
            by_model=_groups(groups["model"]),
            by_project=_groups(groups["project"]),
        )


def _groups(rows: list[GroupRow]) -> tuple[SpendGroup, ...]:
    return tuple(
        SpendGroup(key=r.key, spent_usd=from_nano(r.nano_usd), calls=r.calls, usage=r.usage)
        for r in rows
    )
