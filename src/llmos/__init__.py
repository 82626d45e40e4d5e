"""llmos: an operating system for LLM agents.

The public names are loaded on first use (PEP 562), so ``import llmos`` (and
``llmos --version``, which imports the package) costs nothing of the engine;
``from llmos import LLMOS`` imports what it names then.
"""

from __future__ import annotations as _annotations

from llmos.lazy import load_export as _load_export
from llmos.version import __version__

_TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~10 ms)
if _TYPE_CHECKING:
    from typing import Any as _Any

    from llmos.api import LLMOS
    from llmos.economy import BudgetStatus, TokenEconomy
    from llmos.outcome import FailureKind, Outcome, OutcomeStatus
    from llmos.plugins import hook, tool
    from llmos.runtime.task import TaskResult

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

#: Where each lazily loaded public name lives.
_HOMES = {
    "BudgetStatus": "llmos.economy",
    "FailureKind": "llmos.outcome",
    "LLMOS": "llmos.api",
    "Outcome": "llmos.outcome",
    "OutcomeStatus": "llmos.outcome",
    "TaskResult": "llmos.runtime.task",
    "TokenEconomy": "llmos.economy",
    "hook": "llmos.plugins",
    "tool": "llmos.plugins",
}


def __getattr__(name: str) -> _Any:
    return _load_export(__name__, _HOMES, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
