"""A small MCP server for the tests, written with the official SDK, run over stdio.

Started by the tests as ``python mcp_demo_server.py``; its tools are pure
functions, so a replayed call gives the same answer as the learned one.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

server = MCPServer("demo")


@server.tool()
def add(a: int, b: Annotated[int, Field(description="the second number")] = 2) -> str:
    """Add two integers."""
    return str(a + b)


@server.tool(name="shout.loud")
def shout(text: str) -> str:
    """Upper-case a text (its name has a dot, which model APIs refuse)."""
    return text.upper()


@server.tool()
def refuse(reason: str) -> str:
    """Always fails, with the reason it was given."""
    raise ToolError(reason)


@server.tool()
def pid() -> str:
    """The server's process id, so tests can see it start, stop and restart."""
    return str(os.getpid())


@server.tool()
async def sleep(seconds: float) -> str:
    """Wait, then answer: for call time-outs."""
    await asyncio.sleep(seconds)
    return "awake"


@server.tool()
def env_names() -> str:
    """The names of the server's environment variables, sorted (for the scrubbing tests)."""
    return " ".join(sorted(os.environ))


if __name__ == "__main__":
    server.run()
