"""Fixtures shared by every test: a fresh workspace and a clean environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's keys, servers or llmos settings."""
    for name in list(os.environ):
        if name == "LLMOS_NO_BWRAP":
            continue  # the CI's second pass: the policy alone, as where bwrap is missing
        if name.startswith("LLMOS_") or name in (
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_BASE_URL",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMOS_WORKSPACE", str(tmp_path / "workspace"))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "workspace"
