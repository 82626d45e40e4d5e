"""``llmos models``: what each provider can use here, asked of its server where it has one.

A server that cannot be reached, or a provider that is not set up, is one
line saying what to check; the command still lists the others and exits 0.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from llmos.backends.catalog import CATALOG_PROVIDERS, LIST_TIMEOUT_S, ProviderModels, list_models
from llmos.cli.common import (
    JsonOption,
    ModelOption,
    ProviderOption,
    WorkspaceOption,
    settings_for,
    stdout_console,
)
from llmos.errors import ConfigError


def models_command(
    provider: ProviderOption = None,
    model: ModelOption = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Server URL for openai or ollama.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds each server may take to answer.", min=0.1)
    ] = LIST_TIMEOUT_S,
    workspace: WorkspaceOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the models each provider can use here (--provider NAME for one)."""
    if provider is not None and provider not in CATALOG_PROVIDERS:
        raise ConfigError(
            f"--provider {provider!r} has no model list; use one of {', '.join(CATALOG_PROVIDERS)}",
            key="provider",
        )
    settings = settings_for(workspace, provider=provider, model=model, base_url=base_url)
    wanted = (provider,) if provider else CATALOG_PROVIDERS
    given = (model,) if model else ()
    found = asyncio.run(list_models(settings, providers=wanted, given=given, per_server_s=timeout))
    if json_output:
        for entry in found:
            print(json.dumps(entry.to_json(), ensure_ascii=False))
        return
    console = stdout_console()
    for entry in found:
        _print(console, entry)


def _print(console: Console, entry: ProviderModels) -> None:
    head = f"[bold]{entry.provider}[/]"
    if entry.problem is not None:
        console.print(f"[dim]○[/] {head} — {escape(entry.problem)}")
    else:
        source = f" [dim]({escape(entry.source)})[/]" if entry.source else ""
        console.print(f"[green]●[/] {head}{source}")
        for name in entry.models:
            mark = " [dim](default)[/]" if name == entry.default else ""
            console.print(f"    {escape(name)}{mark}")
        if not entry.models:
            console.print("    [dim]none[/]")
    for note in entry.notes:
        console.print(f"    [dim]{escape(note)}[/]")
