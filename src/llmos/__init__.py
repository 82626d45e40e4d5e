"""llmos: an operating system for LLM agents."""

from llmos.api import LLMOS
from llmos.economy import BudgetStatus, TokenEconomy
from llmos.kernel.task import TaskResult
from llmos.outcome import FailureKind, Outcome, OutcomeStatus
from llmos.plugins import hook, tool

__version__ = "0.1.0"

__all__ = [  # noqa: RUF022 (plain sorted order, as tests/core/test_exports.py checks)
    "BudgetStatus",
    "FailureKind",
    "LLMOS",
    "Outcome",
    "OutcomeStatus",
    "TaskResult",
    "TokenEconomy",
    "__version__",
    "hook",
    "tool",
]
