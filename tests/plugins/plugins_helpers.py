"""Helpers shared by the plugin tests (imported by name: tests have no packages)."""

from __future__ import annotations

import textwrap
from pathlib import Path

DEMO_SERVER = Path(__file__).with_name("mcp_demo_server.py")


def write(path: Path, source: str) -> Path:
    """Write a Python source file (dedented) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path
