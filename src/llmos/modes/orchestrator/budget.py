"""One reservation for a whole orchestration, shared by its planning, subtasks and synthesis.

The orchestration reserves its estimate once (mode ``orchestrator``): an
:class:`OrchestrationBudget` is a :class:`~llmos.hooks.budget.ReservationBudget`
whose refusals say so. Every model call it causes is checked by
:func:`~llmos.hooks.budget.check_call` and charged to that one reservation:
the planning and synthesis calls directly, each subtask's calls through a
:class:`SubtaskShare`, which the dispatcher uses in place of the subtask's own
admission. A share is a :class:`~llmos.hooks.budget.CallBudget` too: it checks
the subtask's cap (if one is set), then asks the orchestration's reservation
(which grows under the total and per-task limits). The reservation is released
when the orchestration ends, so subtasks never hold money of their own and,
together, can never spend more than the orchestration may.
"""

from __future__ import annotations

import asyncio

from llmos.economy import TokenEconomy
from llmos.economy.estimate import first_call_cost
from llmos.hooks.budget import CallBudget, ReservationBudget, Shortfall
from llmos.messages import Usage

MODE = "orchestrator"


def orchestration_estimate(
    economy: TokenEconomy, model: str, max_tokens: int, *, calls: int = 2
) -> float:
    """What to reserve up front: the worst case of the planning and synthesis calls.

    Subtasks grow the reservation as they run (their cost is unknown before the plan).
    """
    return calls * first_call_cost(model, max_tokens, prices=economy.prices)


class OrchestrationBudget(ReservationBudget):
    """The orchestration's reservation and the shares its subtasks draw on.

    Example:
        >>> budget = await OrchestrationBudget.reserve(economy, "t-1", 0.5, model="claude-x")
        >>> verdict = await check_call(budget, economy.prices, request)  # before the planning call
        >>> await asyncio.to_thread(budget.charge, model=model, usage=usage)  # after it
        >>> share = budget.share("t-1.s1")               # the dispatcher's budget for s1
        >>> await asyncio.to_thread(budget.release)      # unspent money goes back
    """

    of = " for this orchestration"
    subtask_cap_usd: float | None = None

    @classmethod
    async def reserve(
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
        budget = cls(economy, reservation)
        budget.subtask_cap_usd = subtask_cap_usd
        return budget

    def charge(self, *, model: str, usage: Usage, mode: str | None = None) -> float:
        return super().charge(model=model, usage=usage, mode=mode or MODE)

    def share(self, task_id: str) -> SubtaskShare:
        """The budget of one subtask run (task id ``task_id``)."""
        return SubtaskShare(self, task_id, cap_usd=self.subtask_cap_usd)


class SubtaskShare(CallBudget):
    """A subtask's draw on the orchestration's reservation, under an optional cap.

    ``release`` only closes the share (the orchestration releases the reservation).
    """

    def __init__(
        self, orchestration: OrchestrationBudget, task_id: str, *, cap_usd: float | None = None
    ) -> None:
        self.orchestration = orchestration
        self.task_id = task_id
        self.cap_usd = cap_usd
        self.model = orchestration.model
        self.prices = orchestration.prices
        self.timeout_s = orchestration.timeout_s
        self.spent_usd = 0.0
        self.closed = False
        self.refusal = None

    async def ensure(self, needed_usd: float) -> Shortfall | None:
        if self.cap_usd is not None and self.spent_usd + needed_usd > self.cap_usd:
            return Shortfall(
                left_usd=max(self.cap_usd - self.spent_usd, 0.0),
                of=f" of what subtask {self.task_id} may spend",
                fix="raise the per-subtask budget",
            )
        return await self.orchestration.ensure(needed_usd)

    def covers(self, needed_usd: float) -> bool:
        within_cap = self.cap_usd is None or self.spent_usd + needed_usd <= self.cap_usd
        return within_cap and self.orchestration.covers(needed_usd)

    def charge(self, *, model: str, usage: Usage, mode: str | None = None) -> float:
        cost = self.orchestration.charge(model=model, usage=usage, mode=mode)
        self.spent_usd += cost
        return cost

    def release(self) -> float:
        self.closed = True
        return 0.0
