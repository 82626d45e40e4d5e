"""llmos: an operating system for LLM agents."""

from llmos.api import LLMOS
from llmos.economy import BudgetStatus, TokenEconomy
from llmos.outcome import FailureKind, Outcome, OutcomeStatus
from llmos.plugins import hook, tool
from llmos.runtime.task import TaskResult
from llmos.version import __version__

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
