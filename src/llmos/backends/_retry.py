"""Retrying a streamed model call on rate limits and server errors, honouring retry-after.

The SDKs' own retries are switched off (``max_retries=0``): they wait half a
second even when the server says ``retry-after: 0``, and they cannot retry a
stream that failed after its headers. Here a failed attempt is retried only
while nothing has been yielded to the caller, so a turn is never half-shown
twice.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from llmos.backends.base import BackendEvent
from llmos.errors import BackendError, RateLimited


class TransientFailure(Exception):
    """Signal from one attempt: it failed in a way that a retry may fix.

    Internal to backends; the retry loop raises ``error`` when it gives up.
    ``max_retries`` caps the policy's retries for this kind of failure (a
    server that is down is not worth the full backoff).
    """

    def __init__(
        self,
        error: BackendError,
        *,
        retry_after: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after
        self.max_retries = max_retries


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to wait; ``retry-after`` from the server wins when given."""

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    #: A server asking for a longer wait than this is not waited for: the error surfaces.
    max_retry_after: float = 60.0

    def delay(self, failures: int, retry_after: float | None) -> float | None:
        """Seconds before the next attempt, or None when it is not worth waiting."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        backoff = min(self.base_delay * 2**failures, self.max_delay)
        return backoff * (1 - 0.25 * random.random())


def _gave_up(error: BackendError, attempts: int) -> BackendError:
    note = f" (gave up after {attempts} attempts)"
    if isinstance(error, RateLimited):
        return RateLimited(f"{error}{note}", backend=error.backend, retry_after=error.retry_after)
    return type(error)(f"{error}{note}", backend=error.backend, status=error.status)


async def retry_stream(
    attempt: Callable[[], AsyncIterator[BackendEvent]], policy: RetryPolicy
) -> AsyncIterator[BackendEvent]:
    """Run ``attempt`` until it succeeds, retrying transient failures before any output."""
    failures = 0
    while True:
        started = False
        try:
            async for event in attempt():
                started = True
                yield event
            return
        except TransientFailure as failure:
            wait = policy.delay(failures, failure.retry_after)
            limit = policy.max_retries
            if failure.max_retries is not None:
                limit = min(limit, failure.max_retries)
            if started or failures >= limit or wait is None:
                error = _gave_up(failure.error, failures + 1) if failures else failure.error
                raise error from failure.__cause__
            failures += 1
            await asyncio.sleep(wait)
