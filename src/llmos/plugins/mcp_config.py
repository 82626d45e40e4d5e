"""The ``[mcp]`` settings: MCP servers llmos starts over stdio.

Example (``llmos.toml``):
    [mcp.servers.notes]
    command = "python"
    args = ["-m", "notes_server"]
    env = { NOTES_DIR = "/srv/notes" }
    replayable = true
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: A server name becomes part of tool names (``mcp__NAME__TOOL``), so it is kept plain.
SERVER_NAME = re.compile(r"^[A-Za-z0-9-]+(_[A-Za-z0-9-]+)*$")


class McpServerConfig(BaseModel):
    """One MCP server started with ``command args…`` and spoken to over stdio."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    command: str = Field(min_length=1, description="the program that runs the server")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(
        default_factory=dict,
        description="variables added to the scrubbed environment of [tools.env] (no secrets)",
    )
    cwd: Path | None = Field(None, description="the server's working directory")
    replayable: bool = Field(
        True, description="false if its tools act outside the workspace (no Follower replay)"
    )
    startup_timeout: float = Field(30.0, gt=0, description="seconds to start and list tools")
    call_timeout: float = Field(120.0, gt=0, description="seconds one tool call may take")


class McpConfig(BaseModel):
    """The ``[mcp]`` table: servers by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    servers: dict[str, McpServerConfig] = Field(default_factory=dict)

    @field_validator("servers")
    @classmethod
    def _plain_names(cls, servers: dict[str, McpServerConfig]) -> dict[str, McpServerConfig]:
        for name in servers:
            if not SERVER_NAME.match(name):
                raise ValueError(
                    f"MCP server name {name!r} must be letters, digits, '-' and single '_' "
                    "(it becomes part of the tool names mcp__NAME__TOOL)"
                )
        return servers
