"""What a Learner run will cost, estimated before it starts (for admission).

With a history of similar traces, the estimate is the 90th percentile
(nearest rank) of their costs re-priced at this model's rates, times 1.25 as
a margin: most similar runs fit, and the budget hook still stops an outlier
before the call that would overspend. Re-pricing uses each trace's recorded
token usage, since the same work on another model costs that model's rates;
for a model without a price the recorded cost is used as is.

Without history, it assumes a typical run: ``DEFAULT_TURNS`` calls, each
reading ``TYPICAL_PROMPT_TOKENS`` (system prompt, tool schemas and a growing
conversation) and writing ``TYPICAL_OUTPUT_TOKENS`` (never more than
``max_tokens``). For claude-sonnet-4-5 that is 10 x (8,000 x $3 + 800 x $15)
/ 1M = $0.36.

Either way the estimate is at least the worst case of one first call
(``TYPICAL_PROMPT_TOKENS`` in, ``max_tokens`` out), so that a task admitted
is not stopped by the budget hook before its first call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from llmos.economy.prices import DEFAULT_PRICES, PriceTable
from llmos.messages import Usage

DEFAULT_TURNS = 10
TYPICAL_PROMPT_TOKENS = 8_000
TYPICAL_OUTPUT_TOKENS = 800
HISTORY_PERCENTILE = 0.9
HISTORY_MARGIN = 1.25


def _nearest_rank(sorted_values: Sequence[float], fraction: float) -> float:
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def estimate_learner_cost(
    goal_history: Sequence[tuple[Usage, float]],
    model: str,
    max_tokens: int,
    *,
    prices: PriceTable = DEFAULT_PRICES,
) -> float:
    """Dollars to reserve for a Learner run on ``model``.

    Args:
        goal_history: ``(usage, cost_usd)`` of past runs of similar goals.
        model: the model the run will use.
        max_tokens: the output cap of each call.
        prices: the price table (config overrides included).

    Example:
        >>> estimate_learner_cost([], "claude-sonnet-4-5", 4096)
        0.36
    """
    price = prices.lookup(model)
    if price is None:
        return _percentile_cost([cost for _, cost in goal_history]) if goal_history else 0.0
    first_call = first_call_cost(model, max_tokens, prices=prices)
    if goal_history:
        return max(_percentile_cost([price.cost(usage) for usage, _ in goal_history]), first_call)
    turn = Usage(
        input_tokens=TYPICAL_PROMPT_TOKENS,
        output_tokens=min(max_tokens, TYPICAL_OUTPUT_TOKENS),
    )
    return max(DEFAULT_TURNS * price.cost(turn), first_call)


def first_call_cost(model: str, max_tokens: int, *, prices: PriceTable = DEFAULT_PRICES) -> float:
    """The worst case of one typical call: the least a Learner run can be admitted with."""
    price = prices.lookup(model)
    if price is None:
        return 0.0
    return price.cost(Usage(input_tokens=TYPICAL_PROMPT_TOKENS, output_tokens=max_tokens))


def _percentile_cost(costs: list[float]) -> float:
    return _nearest_rank(sorted(costs), HISTORY_PERCENTILE) * HISTORY_MARGIN
