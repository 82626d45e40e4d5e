"""Fixtures for the trace memory tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos.memory import TraceStore


@pytest.fixture
def store(tmp_path: Path) -> TraceStore:
    """An empty trace library in a temporary workspace, its folder made (tests write
    files into it by hand; a store makes it on its first write otherwise)."""
    (tmp_path / "workspace" / "memory" / "traces").mkdir(parents=True, exist_ok=True)
    return TraceStore.for_memory(tmp_path / "workspace" / "memory")
