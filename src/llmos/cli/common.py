"""What every CLI command shares: the workspace option, settings, consoles."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from llmos.cli.terminal import TerminalConsole
from llmos.config import PROVIDERS, Settings, default_home, load_settings
from llmos.errors import ConfigError
from llmos.workspace import Workspace, old_layout_in

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        metavar="DIR",
        help="llmos's state folder: traces, ledger, settings "
        "(default: $LLMOS_WORKSPACE, else $LLMOS_HOME, else ~/.local/share/llmos).",
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
        help="claude-sdk, anthropic, openai, ollama, local or scripted "
        "(default: see `llmos providers`).",
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
CwdOption = Annotated[
    Path | None,
    typer.Option(
        "--cwd",
        "-C",
        metavar="DIR",
        help="Work in this folder instead of the current one.",
        show_default=False,
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
    settings = load_settings(workspace=workspace, overrides=overrides)
    if workspace is None and not os.environ.get("LLMOS_WORKSPACE"):
        _tell_of_old_layout(settings)
    return settings


def change_directory(folder: Path | None) -> None:
    """``--cwd DIR`` (``-C``): work in ``DIR``, as ``git -C`` and ``codex -C`` do."""
    if folder is None:
        return
    try:
        os.chdir(folder)
    except FileNotFoundError as exc:
        raise ConfigError(f"--cwd {folder}: no such folder", key="cwd") from exc
    except NotADirectoryError as exc:
        raise ConfigError(f"--cwd {folder}: not a folder", key="cwd") from exc
    except PermissionError as exc:
        raise ConfigError(f"--cwd {folder}: permission denied", key="cwd") from exc


_told_of: set[Path] = set()


def _tell_of_old_layout(settings: Settings) -> None:
    """Say once that ``./workspace`` holds state of the old layout, which is not used."""
    old = old_layout_in(settings.cwd)
    if old is None or old == settings.workspace or old in _told_of:
        return
    _told_of.add(old)
    home = default_home()
    move = (
        f"move it there with `mv {old} {home}`"
        if not home.exists()
        else f"add its traces with `llmos traces import {old / 'memory' / 'traces'}`"
    )
    stderr_console().print(
        f"note: {old} is an llmos state folder of the old layout; it is not used: llmos now "
        f"keeps one library for every folder in {home}. To keep it, {move}, or use it as it "
        f"is with --workspace {old}.",
        markup=False,
        soft_wrap=True,
    )


def open_workspace(
    workspace: Path | None, *, create: bool = False, **overrides: Any
) -> tuple[Settings, Workspace]:
    """The settings and the state folder; ``create`` for commands that write to it
    (a command that only reads creates nothing, and finds nothing in a missing folder)."""
    settings = settings_for(workspace, **overrides)
    space = Workspace(settings.workspace)
    return settings, space.ensure() if create else space


def stdout_console() -> Console:
    return TerminalConsole(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return TerminalConsole(stderr=True, highlight=False, soft_wrap=True)
