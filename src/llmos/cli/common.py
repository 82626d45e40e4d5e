"""What every CLI command shares: the workspace option, settings, consoles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from llmos.config import Settings, load_settings
from llmos.workspace import Workspace

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder [default: $LLMOS_WORKSPACE or ./workspace].",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object per line on stdout, nothing else.")
]


def settings_for(workspace: Path | None, **overrides: Any) -> Settings:
    """Settings from the three layers, flags given as dotted keys."""
    return load_settings(workspace=workspace, overrides=overrides)


def open_workspace(workspace: Path | None, **overrides: Any) -> tuple[Settings, Workspace]:
    settings = settings_for(workspace, **overrides)
    return settings, Workspace(settings.workspace).ensure()


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)
