"""A home folder with a workspace in it, and the agent's working directory inside."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Layout:
    home: Path
    workspace: Path
    cwd: Path


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """``home/ws`` is the workspace, ``home/ws/project`` the working directory."""
    home = tmp_path / "home" / "user"
    workspace = home / "ws"
    cwd = workspace / "project"
    cwd.mkdir(parents=True)
    (workspace / "output").mkdir()
    (workspace / "memory").mkdir()
    return Layout(home=home, workspace=workspace, cwd=cwd)
