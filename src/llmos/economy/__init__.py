"""The token economy: prices, the persistent ledger, budgets and reservations."""

from llmos.economy.economy import (
    BudgetStatus,
    DaySummary,
    EconomyReport,
    Reservation,
    SpendGroup,
    TokenEconomy,
)
from llmos.economy.estimate import estimate_learner_cost
from llmos.economy.ledger import Ledger
from llmos.economy.prices import (
    BUILTIN_PRICES,
    DEFAULT_PRICES,
    CostQuote,
    ModelPrice,
    PriceTable,
    cost_usd,
    format_shortfall,
    format_usd,
)

__all__ = [
    "BUILTIN_PRICES",
    "DEFAULT_PRICES",
    "BudgetStatus",
    "CostQuote",
    "DaySummary",
    "EconomyReport",
    "Ledger",
    "ModelPrice",
    "PriceTable",
    "Reservation",
    "SpendGroup",
    "TokenEconomy",
    "cost_usd",
    "estimate_learner_cost",
    "format_shortfall",
    "format_usd",
]
