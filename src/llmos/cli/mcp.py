"""``llmos mcp``: serve llmos over MCP stdio to another agent (Claude Code, an IDE).

Register it in a client's MCP settings as the command
``llmos mcp --workspace /path/to/ws``. stdout carries the protocol only; one
line on stderr says the server is up.
"""

from __future__ import annotations

import asyncio

from llmos.cli.common import (
    ModelOption,
    ProjectOption,
    ProviderOption,
    ScriptOption,
    WorkspaceOption,
    settings_for,
    stderr_console,
)
from llmos.errors import ConfigError

MCP_INSTALL_HINT = "pip install 'llmos[mcp]'"


def mcp_command(
    workspace: WorkspaceOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    script: ScriptOption = None,
    project: ProjectOption = None,
) -> None:
    """Serve llmos over MCP on stdin/stdout: tools run_task, match_trace, list_traces, budget."""
    try:
        from llmos.mcp.server import serve_stdio
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("mcp"):
            raise
        raise ConfigError(
            f"`llmos mcp` needs the MCP SDK, which is not installed: {MCP_INSTALL_HINT}",
            key="mcp",
        ) from exc
    settings = settings_for(
        workspace, provider=provider, model=model, script=script, project=project
    )
    stderr_console().print(
        f"llmos MCP server on stdio · workspace {settings.workspace} · "
        f"provider {settings.provider or 'auto'}"
    )
    asyncio.run(serve_stdio(settings))
