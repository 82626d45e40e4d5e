"""Plugin and MCP tools in real runs: learned, recorded in the trace, replayed for free.

Each run builds its own LLMOS over the same workspace (as two processes would)
and registers the extensions on ``llmos.tools`` / ``llmos.hooks`` before executing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from plugins_helpers import write

from llmos import LLMOS
from llmos.backends.scripted import ScriptedBackend
from llmos.config import load_settings
from llmos.events import Event, Notice, ReplayDiverged, ToolCallFinished
from llmos.memory import TraceStore
from llmos.plugins import McpServerConfig

TEXTKIT = '''
    from llmos.plugins import tool


    @tool
    def word_count(text: str) -> int:
        """Count the words in a text."""
        return len(text.split())
    '''

PAGER = '''
    from llmos.plugins import tool


    @tool(replayable=False)
    def send_page(message: str) -> str:
        """Page the person on call: an effect outside the workspace."""
        return "paged"
    '''

GOAL = "Count the words of 'one two three' and add 40 and 2"
LEARN = [
    {"tool_calls": [{"name": "word_count", "input": {"text": "one two three"}}]},
    {"tool_calls": [{"name": "mcp__demo__add", "input": {"a": 40, "b": 2}}]},
    {"text": "3 words; 40 + 2 = 42"},
]


@asynccontextmanager
async def llmos_with_extensions(
    workspace: Path, turns: list[dict[str, Any]], servers: dict[str, McpServerConfig]
) -> AsyncIterator[tuple[LLMOS, ScriptedBackend, list[Event]]]:
    """An LLMOS that loads the workspace's plugins and hooks and the MCP servers itself."""
    backend = ScriptedBackend(turns)
    servers_config = {name: config.model_dump() for name, config in servers.items()}
    settings = load_settings(workspace=workspace, overrides={"mcp.servers": servers_config})
    llmos = LLMOS(settings=settings, backend=backend)
    events: list[Event] = []
    llmos.subscribe(events.append)
    async with llmos:
        assert not [e for e in events if isinstance(e, Notice)]  # nothing was skipped
        yield llmos, backend, events


def finished(events: list[Event]) -> list[tuple[str, str, bool]]:
    return [(e.tool, e.output, e.replay) for e in events if isinstance(e, ToolCallFinished)]


async def test_a_plugin_and_an_mcp_tool_are_learned_recorded_and_replayed(
    workspace: Path, demo_server: McpServerConfig
):
    write(workspace / "plugins" / "textkit.py", TEXTKIT)
    servers = {"demo": demo_server}
    async with llmos_with_extensions(workspace, LEARN, servers) as (llmos, backend, events):
        learned = await llmos.execute(GOAL)
        # The goal names no file or command to check: the run is unverified until a person
        # vouches for it, and only then is it replayed.
        assert (learned.mode, learned.outcome.status, learned.text) == (
            "learner",
            "unverified",
            "3 words; 40 + 2 = 42",
        )
        await llmos.promote(learned.trace_id, "checked the sums")
    assert finished(events) == [("word_count", "3", False), ("mcp__demo__add", "42", False)]
    trace = TraceStore.for_memory(workspace / "memory").load(learned.trace_id)
    assert [(s.tool, dict(s.input), s.output) for s in trace.steps] == [
        ("word_count", {"text": "one two three"}, "3"),
        ("mcp__demo__add", {"a": 40, "b": 2}, "42"),
    ]

    async with llmos_with_extensions(workspace, [], servers) as (llmos, backend, events):
        followed = await llmos.execute(GOAL)
    assert (followed.mode, followed.success, followed.trace_id) == (
        "follower",
        True,
        learned.trace_id,
    )
    assert backend.requests == []  # no LLM call at all
    assert finished(events) == [("word_count", "3", True), ("mcp__demo__add", "42", True)]
    assert followed.text == "3 words; 40 + 2 = 42"


async def test_a_non_replayable_plugin_is_refused_by_the_follower_then_learned_again(
    workspace: Path,
):
    write(workspace / "plugins" / "pager.py", PAGER)
    goal = "Page the on-call person about the outage"
    turns = [
        {"tool_calls": [{"name": "send_page", "input": {"message": "outage"}}]},
        {"text": "paged them"},
    ]
    async with llmos_with_extensions(workspace, turns, {}) as (llmos, backend, events):
        learned = await llmos.execute(goal)
        assert (learned.mode, learned.outcome.status) == ("learner", "unverified")
        await llmos.promote(learned.trace_id)

    async with llmos_with_extensions(workspace, turns, {}) as (llmos, backend, events):
        again = await llmos.execute(goal)
    notices = [e.message for e in events if isinstance(e, ReplayDiverged)]
    assert (
        "replay diverged at step 1 (send_page): tool 'send_page' (plugin:pager) has effects "
        "outside the workspace and is marked non-replayable; the Learner takes over from there"
    ) in notices
    assert not again.failed and again.mode == "healed"
    assert len(backend.requests) == 2  # learned again with the LLM
    # The page was sent once, by the Learner; the Follower never ran it.
    assert finished(events) == [("send_page", "paged", False)]


async def test_a_user_hook_from_the_workspace_denies_a_bash_pattern_in_a_run(workspace: Path):
    write(
        workspace / "hooks" / "guard.py",
        """
        from llmos.hooks.pipeline import Deny
        from llmos.plugins import hook


        @hook("PreToolUse", matcher="Bash")
        def no_recursive_delete(data):
            if "rm -rf" in data.tool_input["command"]:
                return Deny("recursive deletes are not allowed here")
            return None
        """,
    )
    (workspace.parent / "data").mkdir(parents=True)
    turns = [
        {"tool_calls": [{"name": "Bash", "input": {"command": "rm -rf data"}}]},
        {"text": "I may not delete it."},
    ]
    async with llmos_with_extensions(workspace, turns, {}) as (llmos, _, events):
        result = await llmos.execute("Delete the data folder")
    # The run ends on a denied call and the folder is still there: it failed, and says why.
    assert (result.outcome.status, result.outcome.kind) == ("failed", "policy")
    assert result.text == "I may not delete it."
    assert (workspace.parent / "data").is_dir()
    assert finished(events) == [
        (
            "Bash",
            "Denied by the no_recursive_delete hook: recursive deletes are not allowed here. "
            "The call was not run; choose another way to reach the goal.",
            False,
        )
    ]
