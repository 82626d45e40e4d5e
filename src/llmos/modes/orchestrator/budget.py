"""One reservation for a whole orchestration, shared by its planning, subtasks and synthesis.

The orchestration reserves its estimate once (:meth:`TokenEconomy.reserve`,
mode ``orchestrator``). Every model call it causes is charged to that one
reservation (:meth:`~TokenEconomy.deduct`): the planning and synthesis calls
directly, each subtask's calls through a :class:`SubtaskShare`, which the
dispatcher uses in place of its own :class:`~llmos.hooks.budget.BudgetGuard`
(same ``hook()`` / ``charge()`` / ``release()`` / ``refusal``). Before a call,
a share checks that the call's worst case fits both the subtask's cap (if one
is set) and what the reservation has left; when the reservation is short it
grows it (:meth:`~TokenEconomy.extend`, under the total and per-task limits)
and otherwise refuses the call with the figures. The reservation is released
(:meth:`~TokenEconomy.release`) when the orchestration ends, so subtasks never
hold money of their own and, together, can never spend more than the
orchestration may.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from llmos.backends.base import BackendRequest
from llmos.economy import Reservation, TokenEconomy, format_shortfall
from llmos.economy.estimate import first_call_cost
from llmos.errors import BudgetExceeded
from llmos.hooks.budget import projected_usage
from llmos.hooks.inputs import PreLLMCallInput
from llmos.hooks.pipeline import Decision, Deny, Hook
from llmos.messages import Usage

MODE = "orchestrator"


def orchestration_estimate(
    economy: TokenEconomy, model: str, max_tokens: int, *, calls: int = 2
) -> float:
    """What to reserve up front: the worst case of the planning and synthesis calls.

    Subtasks grow the reservation as they run (their cost is unknown before the plan).
    """
    return calls * first_call_cost(model, max_tokens, prices=economy.prices)


class OrchestrationBudget:
    """The orchestration's reservation and the shares its subtasks draw on.

    Example:
        >>> budget = await OrchestrationBudget.open(economy, "t-1", 0.5, model="claude-sonnet-4-5")
        >>> await budget.ensure(request, model)          # before the planning call
        >>> await budget.charge(model, usage)            # after it
        >>> share = budget.share("t-1.s1")               # the dispatcher's guard for s1
        >>> await budget.close()                         # unspent money goes back
    """

    def __init__(
        self,
        economy: TokenEconomy,
        reservation: Reservation,
        *,
        subtask_cap_usd: float | None = None,
    ) -> None:
        self.economy = economy
        self.reservation = reservation
        self.subtask_cap_usd = subtask_cap_usd
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        economy: TokenEconomy,
        task_id: str,
        amount_usd: float,
        *,
        model: str,
        project: str | None = None,
        subtask_cap_usd: float | None = None,
    ) -> OrchestrationBudget:
        """Reserve ``amount_usd`` for the orchestration (BudgetExceeded if it does not fit)."""
        reservation = await asyncio.to_thread(
            economy.reserve, task_id, amount_usd, mode=MODE, model=model, project=project
        )
        return cls(economy, reservation, subtask_cap_usd=subtask_cap_usd)

    @property
    def spent_usd(self) -> float:
        return self.reservation.spent_usd

    def projected_cost(self, request: BackendRequest, model: str | None) -> tuple[float, Usage]:
        usage = projected_usage(request)
        return self.economy.prices.cost_usd(model or self.reservation.model or "", usage).usd, usage

    async def ensure(self, needed_usd: float, *, what: str = "the next call") -> None:
        """Make sure ``needed_usd`` fits the reservation, growing it if the budget allows.

        Raises:
            BudgetExceeded: the reservation cannot grow enough; the figures are in the error.
        """
        async with self._lock:  # concurrent subtasks must not both grow for the same gap
            shortfall = needed_usd - self.reservation.left_usd
            if shortfall <= 0:
                return
            try:
                await asyncio.to_thread(self.economy.extend, self.reservation, shortfall)
            except BudgetExceeded as exc:
                left = self.reservation.left_usd + exc.left_usd
                needed_text, left_text = format_shortfall(needed_usd, left)
                raise BudgetExceeded(
                    f"budget: {left_text} left for this orchestration, {what} needs about "
                    f"{needed_text}; raise it with `llmos budget set N`",
                    needed_usd=needed_usd,
                    left_usd=left,
                ) from exc

    async def ensure_call(self, request: BackendRequest, model: str, *, what: str) -> None:
        """:meth:`ensure` the worst case of one model call."""
        needed, _ = self.projected_cost(request, model)
        await self.ensure(needed, what=what)

    async def charge(self, model: str, usage: Usage, *, mode: str = MODE) -> float:
        """Record one call against the reservation at real prices; returns its cost."""
        return await asyncio.to_thread(
            self.economy.deduct, self.reservation, model=model, usage=usage, mode=mode
        )

    def share(self, task_id: str) -> SubtaskShare:
        """The budget guard for one subtask run (task id ``task_id``)."""
        return SubtaskShare(budget=self, task_id=task_id, cap_usd=self.subtask_cap_usd)

    async def close(self) -> float:
        """Release what the orchestration did not spend; returns it."""
        return await asyncio.to_thread(self.economy.release, self.reservation)


@dataclass(kw_only=True)
class SubtaskShare:
    """A subtask's draw on the orchestration's reservation, shaped like a ``BudgetGuard``.

    ``charge`` and ``release`` are synchronous, as the dispatcher calls them from a
    worker thread; ``release`` only closes the share (the orchestration releases the
    reservation). ``refusal`` holds the last refused call, with its figures.
    """

    budget: OrchestrationBudget
    task_id: str
    cap_usd: float | None = None
    spent_usd: float = 0.0
    refusal: BudgetExceeded | None = None
    closed: bool = field(default=False)

    @property
    def reservation(self) -> Reservation:
        return self.budget.reservation

    @property
    def hook_name(self) -> str:
        return f"budget:{self.task_id}"

    def hook(self) -> Hook:
        """The ``PreLLMCall`` hook that refuses a call the share cannot pay for."""

        async def check_call(data: PreLLMCallInput) -> Decision | None:
            if data.ctx.task_id != self.task_id:
                return None
            needed, _ = self.budget.projected_cost(data.request, data.model)
            if data.estimated_cost_usd is not None:
                needed = data.estimated_cost_usd
            try:
                self._check_cap(needed)
                await self.budget.ensure(needed, what=f"the next call of subtask {self.task_id}")
            except BudgetExceeded as exc:
                self.refusal = exc
                return Deny(str(exc))
            return None

        return Hook(
            name=self.hook_name,
            event="PreLLMCall",
            fn=check_call,
            fail_closed=True,
            timeout_s=self.budget.economy.ledger.busy_timeout_s + 5,
        )

    def _check_cap(self, needed: float) -> None:
        if self.cap_usd is None or self.spent_usd + needed <= self.cap_usd:
            return
        left = max(self.cap_usd - self.spent_usd, 0.0)
        needed_text, left_text = format_shortfall(needed, left)
        raise BudgetExceeded(
            f"budget: subtask {self.task_id} may spend {left_text} more, its next call needs "
            f"about {needed_text}; raise the per-subtask budget",
            needed_usd=needed,
            left_usd=left,
        )

    def charge(self, *, model: str, usage: Usage, mode: str | None = None) -> float:
        cost = self.budget.economy.deduct(
            self.budget.reservation, model=model, usage=usage, mode=mode or MODE
        )
        self.spent_usd += cost
        return cost

    def release(self) -> float:
        self.closed = True
        return 0.0
