"""MCP server tools through the official SDK, against a real server over stdio."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
from pathlib import Path

import pytest
from plugins_helpers import DEMO_SERVER

from llmos.config import McpConfig
from llmos.plugins import McpServerConfig, McpServerError, McpTools, mcp_tool_name
from llmos.tools.base import ToolContext, ToolRegistry, ToolResult


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def gone(pid: int) -> bool:
    """Whether the process ends within a generous bound (polled, never a timing assert)."""
    for _ in range(400):
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_server_tools_are_listed_as_mcp_name_tool_and_called(
    demo_server: McpServerConfig, tool_ctx: ToolContext
):
    registry = ToolRegistry()
    async with McpTools({"demo": demo_server}) as mcp:
        assert not mcp.connections["demo"].running  # nothing starts before it is needed
        report = await mcp.register_into(registry)
        assert report.ok
        assert report.loaded == (
            "mcp__demo__add",
            "mcp__demo__shout_loud",
            "mcp__demo__refuse",
            "mcp__demo__pid",
            "mcp__demo__sleep",
            "mcp__demo__env_names",
        )
        add = registry.get("mcp__demo__add")
        assert add is not None
        assert (add.source, add.replayable, add.description) == (
            "mcp:demo",
            True,
            "Add two integers.",
        )
        # The server's JSON schema is offered as given.
        assert add.input_schema() == {
            "type": "object",
            "properties": {
                "a": {"title": "A", "type": "integer"},
                "b": {
                    "default": 2,
                    "description": "the second number",
                    "title": "B",
                    "type": "integer",
                },
            },
            "required": ["a"],
            "title": "addArguments",
        }
        assert await registry.execute("mcp__demo__add", {"a": 40}, tool_ctx) == ToolResult(
            content="42", output="42"
        )
        shouted = await registry.execute("mcp__demo__shout_loud", {"text": "hi"}, tool_ctx)
        assert shouted.content == "HI"  # called by its real name, shout.loud


async def test_tool_errors_and_schema_violations_are_error_results(
    demo_server: McpServerConfig, tool_ctx: ToolContext
):
    registry = ToolRegistry()
    async with McpTools({"demo": demo_server}) as mcp:
        await mcp.register_into(registry)
        refused = await registry.execute("mcp__demo__refuse", {"reason": "no stock"}, tool_ctx)
        assert refused.is_error and refused.content == "Error executing tool refuse: no stock"
        invalid = await registry.execute("mcp__demo__add", {"a": "forty"}, tool_ctx)
        assert invalid == ToolResult.rejected(
            "Invalid input for mcp__demo__add: input: a: 'forty' is not of type 'integer'"
        )


async def test_a_server_marked_non_replayable_gives_non_replayable_tools(
    demo_server: McpServerConfig,
):
    config = demo_server.model_copy(update={"replayable": False})
    registry = ToolRegistry()
    async with McpTools({"side": config}) as mcp:
        await mcp.register_into(registry)
    assert {tool.replayable for tool in registry} == {False}
    assert {tool.source for tool in registry} == {"mcp:side"}


async def test_a_server_that_fails_to_start_is_reported_by_name_and_command(
    demo_server: McpServerConfig, tool_ctx: ToolContext
):
    servers = {
        "demo": demo_server,
        "ghost": McpServerConfig(command="/nonexistent/mcp-server", args=["--stdio"]),
        "quits": McpServerConfig(
            command=sys.executable,
            args=["-c", "import sys; sys.stderr.write('no licence key'); sys.exit(3)"],
        ),
    }
    registry = ToolRegistry()
    async with McpTools(servers) as mcp:
        report = await mcp.register_into(registry)
        assert [p.origin for p in report.problems] == ["MCP server ghost", "MCP server quits"]
        ghost, quits = (p.error for p in report.problems)
        assert ghost.startswith(
            "MCP server 'ghost' (/nonexistent/mcp-server --stdio) failed to start: "
            "FileNotFoundError: [Errno 2] No such file or directory"
        )
        assert ghost.endswith("check command and args in [mcp.servers.ghost]")
        assert quits.startswith(f"MCP server 'quits' ({sys.executable} -c ")
        assert (
            "failed to start: MCPError: Connection closed; its stderr ends with: no licence key;"
            in quits
        )
        # The healthy server's tools are there; the run goes on.
        assert (await registry.execute("mcp__demo__add", {"a": 1, "b": 1}, tool_ctx)).content == "2"
        with pytest.raises(McpServerError, match=re.escape("MCP server 'ghost' (")) as caught:
            await mcp.connections["ghost"].tools()
        assert (caught.value.server, caught.value.command) == (
            "ghost",
            "/nonexistent/mcp-server --stdio",
        )


async def test_close_stops_the_server_and_the_next_call_starts_it_again(
    demo_server: McpServerConfig, tool_ctx: ToolContext
):
    registry = ToolRegistry()
    mcp = McpTools({"demo": demo_server})
    await mcp.register_into(registry)
    first_pid = int((await registry.execute("mcp__demo__pid", {}, tool_ctx)).content)
    assert alive(first_pid)
    await mcp.aclose()
    assert not alive(first_pid)
    second_pid = int((await registry.execute("mcp__demo__pid", {}, tool_ctx)).content)
    assert second_pid != first_pid
    await mcp.aclose()
    assert not alive(second_pid)


async def test_a_server_that_dies_is_an_error_result_then_restarted(
    demo_server: McpServerConfig, tool_ctx: ToolContext
):
    registry = ToolRegistry()
    async with McpTools({"demo": demo_server}) as mcp:
        await mcp.register_into(registry)
        pid = int((await registry.execute("mcp__demo__pid", {}, tool_ctx)).content)
        os.kill(pid, 9)
        assert await gone(pid)
        result = await registry.execute("mcp__demo__add", {"a": 1}, tool_ctx)
        assert result.is_error
        assert result.content.startswith("MCP server 'demo' (")
        assert "closed the connection during add" in result.content
        assert result.content.endswith("it restarts on the next call")
        assert (await registry.execute("mcp__demo__add", {"a": 1}, tool_ctx)).content == "3"


async def test_shutdown_finishes_even_when_the_closing_task_is_cancelled(
    demo_server: McpServerConfig, tool_ctx: ToolContext
):
    registry = ToolRegistry()
    mcp = McpTools({"demo": demo_server})
    await mcp.register_into(registry)
    pid = int((await registry.execute("mcp__demo__pid", {}, tool_ctx)).content)
    closer = asyncio.create_task(mcp.aclose())
    await asyncio.sleep(0)  # let it start closing
    closer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closer
    assert await gone(pid)


def test_server_names_must_fit_in_tool_names():
    config = McpConfig.model_validate({"servers": {"my-notes": {"command": "notes"}}})
    assert config.servers["my-notes"].args == []
    with pytest.raises(ValueError, match=re.escape("MCP server name 'my notes' must be letters")):
        McpConfig.model_validate({"servers": {"my notes": {"command": "notes"}}})
    with pytest.raises(ValueError, match="command"):
        McpConfig.model_validate({"servers": {"notes": {"args": ["x"]}}})
    assert mcp_tool_name("notes", "search/full.text") == "mcp__notes__search_full_text"


def test_the_demo_server_file_is_where_the_fixture_says():
    assert DEMO_SERVER.is_file()


async def test_a_server_that_never_answers_is_given_up_after_the_startup_timeout(
    tmp_path: Path,
):
    pid_file = tmp_path / "pid"
    hung = McpServerConfig(
        command=sys.executable,
        args=[
            "-c",
            f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
            "time.sleep(600)",
        ],
        startup_timeout=0.5,
    )
    async with McpTools({"hung": hung}) as mcp:
        report = await mcp.register_into(ToolRegistry())
    assert [p.error for p in report.problems] == [
        f"MCP server 'hung' ({shlex.join([hung.command, *hung.args])}) did not answer "
        "within 0.5 s; check the command, or raise startup_timeout in [mcp.servers.hung]"
    ]
    assert await gone(int(pid_file.read_text()))


async def test_a_call_past_the_call_timeout_is_an_error_and_the_server_lives_on(
    demo_server: McpServerConfig, tool_ctx: ToolContext
):
    config = demo_server.model_copy(update={"call_timeout": 0.5})
    registry = ToolRegistry()
    async with McpTools({"demo": config}) as mcp:
        await mcp.register_into(registry)
        late = await registry.execute("mcp__demo__sleep", {"seconds": 30}, tool_ctx)
        assert late == ToolResult.error(
            f"MCP server 'demo' ({mcp.connections['demo'].command_line}) did not answer sleep "
            "within 0.5 s; raise call_timeout in [mcp.servers.demo] if it needs longer"
        )
        assert (await registry.execute("mcp__demo__add", {"a": 5}, tool_ctx)).content == "7"


async def test_a_server_gets_the_scrubbed_environment_plus_its_own_variables(
    demo_server: McpServerConfig, tool_ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FAKE_SERVICE_TOKEN", "tok-0123456789")
    monkeypatch.setenv("EDITOR", "vim")
    config = demo_server.model_copy(update={"env": {"NOTES_DIR": "/srv/notes"}})
    registry = ToolRegistry()
    async with McpTools({"demo": config}) as mcp:
        assert (await mcp.register_into(registry)).ok
        names = (await registry.execute("mcp__demo__env_names", {}, tool_ctx)).content.split()
    assert "PATH" in names and "NOTES_DIR" in names
    assert "FAKE_SERVICE_TOKEN" not in names and "EDITOR" not in names
