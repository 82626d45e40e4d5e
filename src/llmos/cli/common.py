"""What every CLI command shares: the workspace option, settings, consoles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from llmos.cli.terminal import TerminalConsole
from llmos.config import PROVIDERS, Settings, load_settings
from llmos.errors import ConfigError
from llmos.workspace import Workspace

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        metavar="DIR",
        help="State folder (default: $LLMOS_WORKSPACE, else ./workspace).",
        show_default=False,
    ),
]
ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project",
        "-P",
        metavar="NAME",
        help="Project to work in (default: the current one).",
        show_default=False,
    ),
]
ProviderOption = Annotated[
    str | None,
    typer.Option(
        "--provider",
        metavar="NAME",
        help="claude-sdk, anthropic, openai, local or scripted (default: see `llmos providers`).",
        show_default=False,
    ),
]
ModelOption = Annotated[
    str | None, typer.Option("--model", "-m", help="Model name, or a .gguf path for local.")
]
ScriptOption = Annotated[
    Path | None,
    typer.Option(
        "--script", metavar="FILE", help="JSON script of turns for the scripted provider."
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object per line on stdout, nothing else.")
]


def settings_for(workspace: Path | None, **overrides: Any) -> Settings:
    """Settings from the three layers, flags given as dotted keys.

    A ``script`` path is made absolute here, so it means the file the user named.
    """
    provider = overrides.get("provider")
    if provider is not None and provider not in PROVIDERS:
        raise ConfigError(
            f"--provider {provider!r} is not one of {', '.join(PROVIDERS)}", key="provider"
        )
    if isinstance(overrides.get("script"), Path):
        overrides["script"] = overrides["script"].absolute()
    return load_settings(workspace=workspace, overrides=overrides)


def open_workspace(workspace: Path | None, **overrides: Any) -> tuple[Settings, Workspace]:
    settings = settings_for(workspace, **overrides)
    return settings, Workspace(settings.workspace).ensure()


def stdout_console() -> Console:
    return TerminalConsole(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return TerminalConsole(stderr=True, highlight=False, soft_wrap=True)
