"""Every error llmos raises, in one hierarchy.

    LLMOSError
     ├── ConfigError            bad configuration or usage (CLI exit code 2)
     ├── BackendError           an LLM backend failed
     │    ├── BackendUnavailable   an extra is not installed, a model file is missing
     │    ├── AuthError            the key was refused
     │    ├── RateLimited          429 after all retries
     │    ├── ContextOverflow      the prompt does not fit the model's window
     │    ├── BackendTimeout       the server did not answer in time
     │    └── ScriptExhausted      the scripted backend ran out of turns
     ├── BudgetExceeded         a call or a task would spend more than is left
 ├── LedgerError            the ledger cannot be read or written
     ├── PolicyDenied           the security policy refused an action
     ├── TraceFormatError       a trace file cannot be parsed
     ├── TraceNotFound          no trace with that id
     └── TaskFailed             a task ended without success

Errors carry the values a caller branches on (``status``, ``retry_after``,
``path`` …) and a message that says what failed and what to do next.
Control-flow signals (a tool error shown to the model) are not errors: a tool
failure is a :class:`~llmos.tools.base.ToolResult` with ``is_error=True``.
"""

from __future__ import annotations

from pathlib import Path


class LLMOSError(Exception):
    """Base class of every llmos error."""


class ConfigError(LLMOSError):
    """The configuration or the command line is wrong; ``key`` names the culprit."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class BackendError(LLMOSError):
    """An LLM backend failed; ``status`` is the HTTP status where there is one."""

    def __init__(self, message: str, *, backend: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.backend = backend
        self.status = status


class BackendUnavailable(BackendError):
    """The backend cannot be built here (missing extra, key or model file)."""


class AuthError(BackendError):
    """The server refused the credentials."""


class RateLimited(BackendError):
    """The server kept answering 429 after every retry."""

    def __init__(
        self, message: str, *, backend: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message, backend=backend, status=429)
        self.retry_after = retry_after


class ContextOverflow(BackendError):
    """The conversation does not fit in the model's context window."""


class BackendTimeout(BackendError):
    """The model server did not answer, or stopped streaming, in time."""


class ScriptExhausted(BackendError):
    """The scripted backend was asked for more turns than its script holds."""


class BudgetExceeded(LLMOSError):
    """Spending would go over the budget; the call was not made.

    ``held_usd`` is what ``held_by`` running tasks have set aside (it comes back as
    they end); ``per_task_usd`` is set when the per-task limit, not the total, refused.
    """

    def __init__(
        self,
        message: str,
        *,
        needed_usd: float,
        left_usd: float,
        held_usd: float = 0.0,
        held_by: int = 0,
        per_task_usd: float | None = None,
    ) -> None:
        super().__init__(message)
        self.needed_usd = needed_usd
        self.left_usd = left_usd
        self.held_usd = held_usd
        self.held_by = held_by
        self.per_task_usd = per_task_usd


class LedgerError(LLMOSError):
    """The ledger is locked too long, corrupt, or from a newer llmos."""


class PolicyDenied(LLMOSError):
    """The security policy refused a command or a path."""

    def __init__(self, message: str, *, subject: str = "") -> None:
        super().__init__(message)
        self.subject = subject


class TraceFormatError(LLMOSError):
    """A trace file is malformed; ``path`` points at it."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class TraceNotFound(LLMOSError):
    """No trace has the given id (or id prefix)."""


class TaskFailed(LLMOSError):
    """A task ended without success; ``task_id`` says which."""

    def __init__(self, message: str, *, task_id: str = "") -> None:
        super().__init__(message)
        self.task_id = task_id
