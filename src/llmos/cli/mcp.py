"""``llmos mcp``: serve llmos over MCP stdio to another agent (Claude Code, an IDE).

Register it in a client's MCP settings as the command
``llmos mcp --workspace /path/to/ws``. stdout carries the protocol only; one
line on stderr says the server is up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from llmos.cli.common import WorkspaceOption, settings_for, stderr_console
from llmos.config import PROVIDERS
from llmos.errors import ConfigError

MCP_INSTALL_HINT = "pip install 'llmos[mcp]'"


def mcp_command(
    workspace: WorkspaceOption = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            "-p",
            help=f"LLM for tasks to learn: one of {', '.join(PROVIDERS)}.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name, or a .gguf path for local.")
    ] = None,
    script: Annotated[
        Path | None,
        typer.Option("--script", help="JSON script of turns for the scripted provider."),
    ] = None,
) -> None:
    """Serve llmos over MCP on stdin/stdout: tools run_task, match_trace, list_traces, budget."""
    try:
        from llmos.mcp_server import serve_stdio
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("mcp"):
            raise
        raise ConfigError(
            f"`llmos mcp` needs the MCP SDK, which is not installed: {MCP_INSTALL_HINT}",
            key="mcp",
        ) from exc
    settings = settings_for(
        workspace,
        provider=provider,
        model=model,
        script=script.absolute() if script else None,
    )
    stderr_console().print(
        f"llmos MCP server on stdio · workspace {settings.workspace} · "
        f"provider {settings.provider or 'auto'}"
    )
    asyncio.run(serve_stdio(settings))


def main() -> None:
    """Run :func:`mcp_command` alone, for ``python -c`` until ``llmos mcp`` is registered."""
    typer.run(mcp_command)
