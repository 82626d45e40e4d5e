"""The budget hook: stop a run before the LLM call that would overspend, not after.

Before each call (``PreLLMCall``) it projects the call's cost from the
request: the prompt (system prompt, messages and tool schemas at about four
characters a token, the estimate the scripted backend reports usage with) at
the model's input price, plus ``request.max_tokens`` at its output price: the
most the call can cost. If
that is more than the task's reservation has left, it first tries to grow the
reservation (the same atomic check as admission: room in the total budget and
under the per-task limit); if that fails it denies with the figures. The loop
turns the deny into :class:`~llmos.errors.BudgetExceeded` and ends the run
before the call.

How the hook finds the task's reservation: it is given a lookup from task id
to :class:`~llmos.economy.Reservation` and reads ``PreLLMCallInput.ctx.task_id``. A
task the lookup does not know (None) is not budgeted by this hook and passes.
Two ways to use it:

- one hook for a shared pipeline: ``budget_hook(economy, reservations.get)``
  over a dict the dispatcher fills when it admits a task and empties when the
  task ends;
- one :class:`BudgetGuard` per task, which reserves, charges, releases and
  registers its own hook (``guard.hook()``), keeping the refusal with its
  figures (``guard.refusal``) for the loop to raise.

The call's model is ``PreLLMCallInput.model`` when the loop names one, else the model
the reservation was priced with. A model without a price projects to $0 (its
charges are $0 too, and the ledger lists it as unpriced).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

from llmos.backends.base import BackendRequest, request_token_bound
from llmos.economy import PriceTable, Reservation, TokenEconomy, format_shortfall, format_usd
from llmos.economy.prices import PER_MILLION, ModelPrice
from llmos.errors import BudgetExceeded
from llmos.hooks.inputs import PreLLMCallInput
from llmos.hooks.pipeline import CapOutput, Decision, Deny, Hook
from llmos.messages import Usage

#: The shortest answer worth a call: below this the call is refused, not capped.
MIN_ANSWER_TOKENS = 256

ReservationLookup = Callable[[str], Reservation | None]
RefusalHandler = Callable[[BudgetExceeded], None]


def projected_usage(request: BackendRequest) -> Usage:
    """The most a call can use: its prompt in (bounded by its bytes), ``max_tokens`` out."""
    return Usage(input_tokens=request_token_bound(request), output_tokens=request.max_tokens)


def affordable_output_tokens(price: ModelPrice, input_tokens: int, left_usd: float) -> int:
    """How many output tokens ``left_usd`` pays for after ``input_tokens`` of prompt.

    One token less than the exact quotient, so rounding to nanodollars in the
    ledger cannot tip the capped call over what is left.
    """
    if price.output <= 0:
        return 0
    prompt = price.cost(Usage(input_tokens=input_tokens))
    return max(int((left_usd - prompt) * PER_MILLION / price.output) - 1, 0)


def _refusal(needed: float, left: float, usage: Usage, model: str | None) -> BudgetExceeded:
    needed_text, left_text = format_shortfall(needed, left)
    on_model = f" on {model}" if model else ""
    return BudgetExceeded(
        f"budget: {left_text} left, the next call needs about {needed_text} "
        f"({usage.input_tokens:,} prompt tokens + up to {usage.output_tokens:,} output tokens"
        f"{on_model}); raise it with `llmos budget set N`",
        needed_usd=needed,
        left_usd=left,
    )


def budget_hook(
    economy: TokenEconomy,
    reservation_lookup: ReservationLookup,
    *,
    grow: bool = True,
    on_refusal: RefusalHandler | None = None,
    name: str = "budget",
) -> Hook:
    """The ``PreLLMCall`` hook that denies a call its task's reservation cannot pay for.

    Args:
        economy: where reservations grow (when ``grow``) and prices come from.
        reservation_lookup: task id to its open reservation, or None (not budgeted).
        grow: try to enlarge the reservation before denying.
        on_refusal: told about each refusal, with the figures as fields.
        name: the hook's name in the pipeline.

    Example:
        >>> reservations: dict[str, Reservation] = {}
        >>> pipeline.register(budget_hook(economy, reservations.get))
    """
    prices: PriceTable = economy.prices

    async def check_call(data: PreLLMCallInput) -> Decision | None:
        reservation = reservation_lookup(data.ctx.task_id)
        if reservation is None:
            return None
        model = data.model or reservation.model
        usage = projected_usage(data.request)
        needed = (
            data.estimated_cost_usd
            if data.estimated_cost_usd is not None
            else prices.cost_usd(model or "", usage).usd
        )
        shortfall = needed - reservation.left_usd
        if shortfall <= 0:
            return None
        left = reservation.left_usd
        if grow:
            try:
                await asyncio.to_thread(economy.extend, reservation, shortfall)
                return None
            except BudgetExceeded as exc:
                left += exc.left_usd
        price = prices.lookup(model or "")
        if data.estimated_cost_usd is None and price is not None:
            capped = await _capped(price, usage, reservation, left, grow=grow)
            if capped is not None:
                return capped
            usage = Usage(
                input_tokens=usage.input_tokens,
                output_tokens=min(usage.output_tokens, MIN_ANSWER_TOKENS),
            )
            needed = price.cost(usage)
        refusal = _refusal(needed, left, usage, model)
        if on_refusal is not None:
            on_refusal(refusal)
        return Deny(str(refusal), error=refusal)

    async def _capped(
        price: ModelPrice, usage: Usage, reservation: Reservation, left: float, *, grow: bool
    ) -> CapOutput | None:
        """The call with a lower ``max_tokens`` that ``left`` pays for, or None."""
        tokens = affordable_output_tokens(price, usage.input_tokens, left)
        if tokens < min(MIN_ANSWER_TOKENS, usage.output_tokens):
            return None
        tokens = min(tokens, usage.output_tokens)
        more = price.cost(Usage(input_tokens=usage.input_tokens, output_tokens=tokens))
        more -= reservation.left_usd
        if more > 0:
            if not grow:
                return None
            try:
                await asyncio.to_thread(economy.extend, reservation, more)
            except BudgetExceeded:  # another task took the room meanwhile
                return None
        return CapOutput(
            tokens,
            reason=f"budget: max_tokens lowered from {usage.output_tokens:,} to {tokens:,}, "
            f"what the {format_usd(left)} left pays for after the prompt",
        )

    # Fail closed: a ledger that cannot be read must not let spending through. The time-out
    # outlasts the ledger's own wait for a lock, so contention is not mistaken for a failure.
    return Hook(
        name=name,
        event="PreLLMCall",
        fn=check_call,
        fail_closed=True,
        timeout_s=economy.ledger.busy_timeout_s + 5,
    )


class BudgetGuard:
    """One task's budget while it runs: its reservation and the hook that polices it.

    Example:
        >>> with BudgetGuard.open(economy, "t-1", 0.40, mode="learner",
        ...                       model="claude-sonnet-4-5") as guard:  # may raise BudgetExceeded
        ...     pipeline.register(guard.hook())
        ...     ...  # on a PreLLMCall deny: raise guard.refusal
        ...     guard.charge(model="claude-sonnet-4-5", usage=usage)  # after each call
        ...     pipeline.unregister(guard.hook_name)
    """

    def __init__(
        self, economy: TokenEconomy, reservation: Reservation, *, grow: bool = True
    ) -> None:
        self.economy = economy
        self.reservation = reservation
        self.grow = grow
        #: The last refusal, with ``needed_usd`` and ``left_usd``, for the loop to raise.
        self.refusal: BudgetExceeded | None = None

    @classmethod
    def open(
        cls,
        economy: TokenEconomy,
        task_id: str,
        amount_usd: float,
        *,
        mode: str,
        model: str | None = None,
        project: str | None = None,
        grow: bool = True,
    ) -> BudgetGuard:
        """Reserve ``amount_usd`` for the task (raises BudgetExceeded when it does not fit)."""
        reservation = economy.reserve(task_id, amount_usd, mode=mode, model=model, project=project)
        return cls(economy, reservation, grow=grow)

    @property
    def hook_name(self) -> str:
        return f"budget:{self.reservation.task_id}"

    def _lookup(self, task_id: str) -> Reservation | None:
        return self.reservation if task_id == self.reservation.task_id else None

    def _refused(self, refusal: BudgetExceeded) -> None:
        self.refusal = refusal

    def hook(self) -> Hook:
        """The ``PreLLMCall`` hook for this task only (other tasks' calls pass)."""
        return budget_hook(
            self.economy,
            self._lookup,
            grow=self.grow,
            on_refusal=self._refused,
            name=self.hook_name,
        )

    def charge(self, *, model: str, usage: Usage, mode: str | None = None) -> float:
        """Record a finished call at real prices; returns its cost."""
        return self.economy.deduct(self.reservation, model=model, usage=usage, mode=mode)

    def release(self) -> float:
        """Give back what the task did not spend; returns that amount."""
        return self.economy.release(self.reservation)

    def __enter__(self) -> BudgetGuard:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
