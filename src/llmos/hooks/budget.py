"""The one budget mechanism: every model call is bounded before it is made, the same way.

A :class:`CallBudget` is whatever limits what a task's calls may cost. All of
them answer one question, :meth:`CallBudget.ensure` ("can this much be made
available for the next call?", growing a reservation when the budget has
room), and the rest is shared:

- :class:`ReservationBudget`: the task's own reservation in the ledger
  (``reserve`` at admission, ``ensure`` grows it, ``charge`` each call,
  ``release`` at the end); an orchestration's is one too;
- :class:`~llmos.modes.orchestrator.budget.SubtaskShare`: a subtask's draw on
  its orchestration's reservation, under an optional cap;
- the HTTP API's per-task cap (:class:`~llmos.server.tasks.TaskCap`): a limit only.

:func:`check_call` is the one check. It projects the call from its request:
the prompt counted by the backend (``HookInput.prompt_count``: the provider's
counting endpoint where there is one) or bounded by its UTF-8 bytes, plus
``max_tokens`` out, at the model's prices. If the budget cannot pay that, the
call's ``max_tokens`` is lowered to what it can pay (:class:`CapOutput`); only
when not even ``MIN_ANSWER_TOKENS`` of answer fit is the call refused, with a
typed :class:`~llmos.errors.BudgetExceeded` carrying the figures (and what
running tasks hold). :func:`budget_hook` is the one ``PreLLMCall`` hook over it.

The call's model is ``PreLLMCallInput.model`` when the loop sets it, else the model
the budget was priced with. A model without a price projects to $0 (its
charges are $0 too, and the ledger lists it as unpriced).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from llmos.backends.base import BackendRequest, PromptCount, request_token_bound
from llmos.economy import PriceTable, Reservation, TokenEconomy, format_shortfall, format_usd
from llmos.economy.economy import RAISE_PER_TASK, RAISE_TOTAL, held_note
from llmos.economy.prices import PER_MILLION, ModelPrice
from llmos.errors import BudgetExceeded
from llmos.hooks.inputs import PreLLMCallInput
from llmos.hooks.pipeline import CapOutput, Deny, Hook
from llmos.messages import Usage

#: The shortest answer worth a call: below this the call is refused, not capped.
MIN_ANSWER_TOKENS = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class Shortfall:
    """Why a budget cannot make the asked amount available, and the most it can.

    The refusal reads ``{scope}: {left} left{of}{held}, the next call needs …; {fix}``.
    """

    left_usd: float
    scope: str = "budget"
    of: str = ""
    held_usd: float = 0.0
    held_by: int = 0
    fix: str = RAISE_TOTAL


class CallBudget(ABC):
    """What pays for (or limits) one task's model calls; see the module docstring."""

    #: The task whose calls this budget checks (the hook lets other tasks' calls pass).
    task_id: str
    #: The model to price a call with when the call does not name one.
    model: str | None = None
    #: The prices a call is projected at.
    prices: PriceTable
    #: The last refusal, with ``needed_usd`` and ``left_usd``.
    refusal: BudgetExceeded | None = None
    #: How long its hook may take (a ledger's budget: its wait for a lock, and some).
    timeout_s: float = 20.0

    @abstractmethod
    async def ensure(self, needed_usd: float) -> Shortfall | None:
        """Make ``needed_usd`` available for the next call; None when it is."""

    def covers(self, needed_usd: float) -> bool:
        """Whether ``needed_usd`` is available already, with no growing and no I/O."""
        return False

    def charge(self, *, model: str, usage: Usage, mode: str | None = None) -> float:
        """Record a finished call at real prices; returns its cost (a cap records nothing)."""
        return 0.0

    def release(self) -> float:
        """Give back what was set aside and not spent; returns that amount."""
        return 0.0

    @property
    def hook_name(self) -> str:
        return f"budget:{self.task_id}"

    def hook(self) -> Hook:
        """The ``PreLLMCall`` hook for this budget's task only (other tasks' calls pass)."""

        def lookup(task_id: str) -> CallBudget | None:
            return self if task_id == self.task_id else None

        return budget_hook(self.prices, lookup, name=self.hook_name, timeout_s=self.timeout_s)


def projected_usage(request: BackendRequest, prompt_tokens: int | None = None) -> Usage:
    """The most a call can use: its prompt in (counted, else its bytes), ``max_tokens`` out."""
    tokens = request_token_bound(request) if prompt_tokens is None else prompt_tokens
    return Usage(input_tokens=tokens, output_tokens=request.max_tokens)


def affordable_output_tokens(price: ModelPrice, input_tokens: int, left_usd: float) -> int:
    """How many output tokens ``left_usd`` pays for after ``input_tokens`` of prompt.

    One token less than the exact quotient, so rounding to nanodollars in the
    ledger cannot tip the capped call over what is left.
    """
    if price.output <= 0:
        return 0
    prompt = price.cost(Usage(input_tokens=input_tokens))
    return max(int((left_usd - prompt) * PER_MILLION / price.output) - 1, 0)


def _refusal(needed: float, short: Shortfall, usage: Usage, model: str | None) -> BudgetExceeded:
    needed_text, left_text = format_shortfall(needed, short.left_usd)
    on_model = f" on {model}" if model else ""
    return BudgetExceeded(
        f"{short.scope}: {left_text} left{short.of}{held_note(short.held_usd, short.held_by)}, "
        f"the next call needs about {needed_text} ({usage.input_tokens:,} prompt tokens + up "
        f"to {usage.output_tokens:,} output tokens{on_model}); {short.fix}",
        needed_usd=needed,
        left_usd=short.left_usd,
        held_usd=short.held_usd,
        held_by=short.held_by,
    )


async def check_call(
    budget: CallBudget,
    prices: PriceTable,
    request: BackendRequest,
    *,
    model: str | None = None,
    prompt: PromptCount | None = None,
    estimated_cost_usd: float | None = None,
) -> CapOutput | Deny | None:
    """The one check before a model call: None (go), a lower ``max_tokens``, or a refusal.

    ``prompt`` counts the prompt with the backend; it is asked only when the byte
    bound does not fit already (a count may be an HTTP request). ``estimated_cost_usd``
    is a projection the caller made itself: taken as is, never capped.
    """
    model = model or budget.model
    price = prices.lookup(model or "")
    usage = projected_usage(request)
    if estimated_cost_usd is not None:
        needed = estimated_cost_usd
    elif price is None:
        needed = 0.0
    else:
        needed = price.cost(usage)
        if prompt is not None and not budget.covers(needed):
            usage = projected_usage(request, await prompt.tokens())
            needed = price.cost(usage)
    short = await budget.ensure(needed)
    if short is None:
        return None
    if estimated_cost_usd is None and price is not None:
        tokens = affordable_output_tokens(price, usage.input_tokens, short.left_usd)
        if tokens >= min(MIN_ANSWER_TOKENS, usage.output_tokens):
            tokens = min(tokens, usage.output_tokens)
            capped = price.cost(Usage(input_tokens=usage.input_tokens, output_tokens=tokens))
            if await budget.ensure(capped) is None:  # else another task took the room meanwhile
                return CapOutput(
                    tokens,
                    reason=f"budget: max_tokens lowered from {usage.output_tokens:,} to "
                    f"{tokens:,}, what the {format_usd(short.left_usd)} left pays for after "
                    "the prompt",
                )
        usage = Usage(
            input_tokens=usage.input_tokens,
            output_tokens=min(usage.output_tokens, MIN_ANSWER_TOKENS),
        )
        needed = price.cost(usage)
    refusal = _refusal(needed, short, usage, model)
    budget.refusal = refusal
    return Deny(str(refusal), error=refusal)


BudgetLookup = Callable[[str], CallBudget | None]


def budget_hook(
    prices: PriceTable, lookup: BudgetLookup, *, name: str = "budget", timeout_s: float = 20.0
) -> Hook:
    """The ``PreLLMCall`` hook that runs :func:`check_call` for each budgeted task's calls.

    ``lookup`` maps a task id to its budget, or None (not budgeted: the call passes).
    Fail closed: a ledger that cannot be read must not let spending through. The
    time-out should outlast the ledger's own wait for a lock, so contention is not
    mistaken for a failure.

    Example:
        >>> budgets: dict[str, CallBudget] = {}
        >>> pipeline.register(budget_hook(economy.prices, budgets.get))
    """

    async def check(data: PreLLMCallInput) -> CapOutput | Deny | None:
        budget = lookup(data.ctx.task_id)
        if budget is None:
            return None
        return await check_call(
            budget,
            prices,
            data.request,
            model=data.model,
            prompt=data.prompt_count,
            estimated_cost_usd=data.estimated_cost_usd,
        )

    return Hook(name=name, event="PreLLMCall", fn=check, fail_closed=True, timeout_s=timeout_s)


class ReservationBudget(CallBudget):
    """A reservation in the ledger: grows on demand (``grow``), charged per call, released.

    Example:
        >>> with ReservationBudget.open(economy, "t-1", 0.40, mode="learner",
        ...                             model="claude-sonnet-4-5") as budget:  # may raise
        ...     pipeline.register(budget.hook())
        ...     budget.charge(model="claude-sonnet-4-5", usage=usage)  # after each call
    """

    #: How refusals name this budget (``of`` follows the amount left).
    scope = "budget"
    of = ""

    def __init__(
        self, economy: TokenEconomy, reservation: Reservation, *, grow: bool = True
    ) -> None:
        self.economy = economy
        self.reservation = reservation
        self.grow = grow
        self.task_id = reservation.task_id
        self.model = reservation.model
        self.prices = economy.prices
        self.timeout_s = economy.ledger.busy_timeout_s + 5
        self.refusal = None
        self._lock = asyncio.Lock()  # concurrent calls must not both grow for the same gap

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
    ) -> ReservationBudget:
        """Reserve ``amount_usd`` for the task (raises BudgetExceeded when it does not fit)."""
        reservation = economy.reserve(task_id, amount_usd, mode=mode, model=model, project=project)
        return cls(economy, reservation, grow=grow)

    @property
    def spent_usd(self) -> float:
        return self.reservation.spent_usd

    async def ensure(self, needed_usd: float) -> Shortfall | None:
        async with self._lock:
            left = self.reservation.left_usd
            if needed_usd <= left:
                return None
            if not self.grow:
                return Shortfall(left_usd=left, scope=self.scope, of=self.of)
            try:
                await asyncio.to_thread(self.economy.extend, self.reservation, needed_usd - left)
                return None
            except BudgetExceeded as exc:
                per_task = exc.per_task_usd
                return Shortfall(
                    left_usd=left + exc.left_usd,
                    scope=self.scope,
                    of=self.of
                    if per_task is None
                    else f" of the {format_usd(per_task)} a task may spend",
                    held_usd=exc.held_usd,
                    held_by=exc.held_by,
                    fix=RAISE_TOTAL if per_task is None else RAISE_PER_TASK,
                )

    def covers(self, needed_usd: float) -> bool:
        return needed_usd <= self.reservation.left_usd

    def charge(self, *, model: str, usage: Usage, mode: str | None = None) -> float:
        return self.economy.charge(self.reservation, model=model, usage=usage, mode=mode)

    def release(self) -> float:
        return self.economy.release(self.reservation)

    def __enter__(self) -> ReservationBudget:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
