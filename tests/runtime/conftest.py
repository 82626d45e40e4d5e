"""Fixtures for kernel tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def never() -> Callable[[Any], Any]:
    """A backend turn function that never answers: a model that hangs."""

    async def hang(_request: Any) -> Any:
        await asyncio.Event().wait()

    return hang
