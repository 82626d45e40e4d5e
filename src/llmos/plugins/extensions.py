"""Everything that extends one llmos instance, installed once: plugin tools, user
hooks and MCP server tools.

The API boots with it and shuts it down; ``llmos tools`` uses it to list what
a run would offer, so both see the same tools.

Example:
    extensions = Extensions(workspace, settings.mcp.servers)
    report = await extensions.install(llmos.tools, llmos.hooks)
    ...
    await extensions.aclose()
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from llmos.config import EnvConfig, McpServerConfig
from llmos.hooks.pipeline import HookPipeline
from llmos.plugins.loader import LoadReport, load_plugins, load_user_hooks
from llmos.plugins.mcp_client import McpTools
from llmos.tools.base import ToolRegistry
from llmos.workspace import Workspace


class Extensions:
    """Plugins, user hooks and MCP servers for one workspace.

    :meth:`install` is idempotent, so a boot after a shutdown does not load
    twice; MCP servers stopped by :meth:`aclose` start again on their next call.
    """

    def __init__(
        self,
        workspace: Workspace,
        servers: Mapping[str, McpServerConfig],
        *,
        entry_points: bool = True,
        env_policy: EnvConfig | None = None,
    ) -> None:
        self.workspace = workspace
        self.mcp = McpTools(servers, env_policy)
        self.entry_points = entry_points
        self._installed: LoadReport | None = None

    async def install(self, tools: ToolRegistry, hooks: HookPipeline | None = None) -> LoadReport:
        """Register plugin tools and MCP tools on ``tools`` and user hooks on ``hooks``.

        Importing plugin files runs their code, so it happens in a worker thread.

        Raises:
            PluginConflictError: two plugins define the same tool name.
        """
        if self._installed is not None:
            return self._installed
        plugins = await asyncio.to_thread(
            load_plugins, self.workspace, tools, entry_points=self.entry_points
        )
        user_hooks = LoadReport()
        if hooks is not None:
            user_hooks = await asyncio.to_thread(
                load_user_hooks, self.workspace, hooks, entry_points=self.entry_points
            )
        servers = await self.mcp.register_into(tools)
        self._installed = LoadReport.combined(plugins, user_hooks, servers)
        return self._installed

    async def aclose(self) -> None:
        """Stop the MCP servers (bounded; safe to call twice)."""
        await self.mcp.aclose()

    async def __aenter__(self) -> Extensions:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
