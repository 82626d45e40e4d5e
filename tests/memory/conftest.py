"""Fixtures for the trace memory tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos.memory import TraceStore


@pytest.fixture
def store(tmp_path: Path) -> TraceStore:
    """An empty trace library in a temporary workspace."""
    return TraceStore.for_memory(tmp_path / "workspace" / "memory")
