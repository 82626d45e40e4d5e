"""`llmos mcp` as another agent sees it: a real server process, an MCP client from the SDK.

Every test starts the server as a subprocess and talks to it over stdio with
the official SDK's client, as Claude Code or an IDE would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp.client.context import ClientRequestContext
from mcp.client.session import ElicitationFnT
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult

from llmos.testing.cli import STARTER_SWITCH
from mcp import ClientSession, StdioServerParameters

pytestmark = pytest.mark.slow  # each test starts a Python process or two

HELLO_SCRIPT = [
    {
        "text": "I will create the file.",
        "tool_calls": [
            {"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}
        ],
    },
    {"tool_calls": [{"name": "Bash", "input": {"command": "cat hello.txt && echo checked"}}]},
    {"text": "Created hello.txt."},
]
GOAL = "Create hello.txt"


def server_command() -> list[str]:
    return [sys.executable, "-m", "llmos", "mcp"]


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOS_") or k == STARTER_SWITCH}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(autouse=True)
def priced_workspace(tmp_path: Path) -> Path:
    """A workspace where the scripted model has a price, so learning costs real dollars."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "llmos.toml").write_text('[prices."scripted"]\ninput = 3.0\noutput = 15.0\n')
    return workspace


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "hello.json"
    path.write_text(json.dumps(HELLO_SCRIPT))
    return path


@asynccontextmanager
async def connect(
    workspace: Path, *flags: str, elicitation_callback: ElicitationFnT | None = None
) -> AsyncIterator[ClientSession]:
    command, *args = server_command()
    params = StdioServerParameters(
        command=command,
        args=[*args, "--workspace", str(workspace), *flags],
        env=server_env(),
        cwd=workspace.parent,
    )
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write, elicitation_callback=elicitation_callback) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


async def test_lists_five_tools_with_their_schemas_and_when_to_use_them(
    tmp_path: Path, script: Path
):
    async with connect(tmp_path / "ws", "--provider", "scripted", "--script", str(script)) as s:
        tools = {tool.name: tool for tool in (await s.list_tools()).tools}

    assert sorted(tools) == ["budget", "list_traces", "match_trace", "reject_trace", "run_task"]
    run = tools["run_task"]
    assert run.input_schema["required"] == ["goal"]
    assert run.input_schema["properties"]["mode"]["enum"] == ["auto", "learner", "follower"]
    assert run.input_schema["properties"]["mode"]["default"] == "auto"
    assert "ctx" not in run.input_schema["properties"]
    assert run.description.startswith("Run a task through llmos: replays a saved trace for free")
    assert {
        "mode",
        "outcome",
        "failure_kind",
        "success",
        "text",
        "cost_usd",
        "saved_usd",
        "trace_id",
        "error",
    } <= set(run.output_schema["properties"])
    assert tools["reject_trace"].input_schema["required"] == ["trace_id", "reason"]
    listing = tools["list_traces"]
    assert "required" not in listing.input_schema
    assert listing.input_schema["properties"]["limit"]["default"] == 20
    assert set(listing.output_schema["properties"]) == {"total", "traces"}
    assert tools["match_trace"].input_schema["required"] == ["goal"]
    assert tools["budget"].input_schema["properties"] == {}
    for name in ("match_trace", "list_traces", "budget"):
        assert tools[name].annotations.read_only_hint is True
    assert run.annotations.read_only_hint is False


async def test_run_task_learns_then_replays_for_free(tmp_path: Path, script: Path):
    workspace = tmp_path / "ws"
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with connect(workspace, "--provider", "scripted", "--script", str(script)) as s:
        learned = await s.call_tool("run_task", {"goal": GOAL}, progress_callback=on_progress)
        assert not learned.is_error, text_of(learned)
        first = learned.structured_content
        assert first["mode"] == "learner"
        assert first["success"] is True
        assert first["text"] == "Created hello.txt."
        assert first["cost_usd"] > 0
        assert first["error"] is None
        assert first["trace_id"]
        assert (workspace.parent / "hello.txt").read_text() == "hello\n"
        assert (workspace / "memory" / "traces" / f"{first['trace_id']}.md").is_file()
        assert text_of(learned).startswith(f"llmos learner · trace {first['trace_id']} · cost $")
        assert "▸ Write hello.txt" in progress
        assert "▸ Bash cat hello.txt && echo checked" in progress
        assert "✓ Bash (exit 0)" in progress

        (workspace.parent / "hello.txt").unlink()
        followed = await s.call_tool("run_task", {"goal": "create hello.txt", "mode": "auto"})
        assert not followed.is_error, text_of(followed)
        second = followed.structured_content
        assert second["mode"] == "follower"
        assert second["success"] is True
        assert second["cost_usd"] == 0
        assert second["saved_usd"] == pytest.approx(first["cost_usd"])
        assert second["trace_id"] == first["trace_id"]
        assert (workspace.parent / "hello.txt").read_text() == "hello\n"
        assert text_of(followed).startswith(
            f"llmos follower · trace {first['trace_id']} · cost $0.00 · saved $"
        )

        listed = (await s.call_tool("list_traces", {})).structured_content
        assert listed["total"] == 1
        (row,) = listed["traces"]
        assert row["id"] == first["trace_id"]
        assert row["goal"] == GOAL
        assert row["uses"] == 1
        assert row["success_rate"] == 1.0
        assert row["saved_usd"] == pytest.approx(first["cost_usd"])
        assert row["last_used"] is not None

        report = (await s.call_tool("budget", {})).structured_content
        assert report["spent_usd"] == pytest.approx(first["cost_usd"])
        assert report["saved_usd"] == pytest.approx(first["cost_usd"])
        assert report["replays"] == 1
        assert report["balance_usd"] is None  # no budget set: unlimited
        assert [group["key"] for group in report["by_mode"]] == ["learner"]


async def test_match_trace_says_follow_or_learn_and_runs_nothing(tmp_path: Path, script: Path):
    workspace = tmp_path / "ws"
    async with connect(workspace, "--provider", "scripted", "--script", str(script)) as s:
        before = (await s.call_tool("match_trace", {"goal": GOAL})).structured_content
        assert before["decision"] == "learn"
        assert before["trace_id"] is None
        assert not (workspace.parent / "hello.txt").exists()

        learned = (await s.call_tool("run_task", {"goal": GOAL})).structured_content
        (workspace.parent / "hello.txt").unlink()
        after = (await s.call_tool("match_trace", {"goal": "CREATE hello.txt!"})).structured_content
        assert after["decision"] == "follow"
        assert after["trace_id"] == learned["trace_id"]
        assert after["confidence"] == 1.0
        assert [step["tool"] for step in after["steps"]] == ["Write", "Bash"]
        assert not (workspace.parent / "hello.txt").exists()  # nothing was run

        listed = (await s.call_tool("list_traces", {})).structured_content
        assert listed["traces"][0]["uses"] == 0  # matching is not using


async def test_list_traces_filters_by_words_or_id_prefix_and_limits(tmp_path: Path):
    script = tmp_path / "two.json"
    script.write_text(
        json.dumps(
            [
                {
                    "tool_calls": [
                        {"name": "Write", "input": {"file_path": "a.txt", "content": "a"}}
                    ]
                },
                {"text": "Wrote a."},
                {"tool_calls": [{"name": "Bash", "input": {"command": "echo listing"}}]},
                {"text": "Listed."},
            ]
        )
    )
    async with connect(tmp_path / "ws", "--provider", "scripted", "--script", str(script)) as s:
        first = await s.call_tool("run_task", {"goal": "Write the letter a into a.txt"})
        await s.call_tool("run_task", {"goal": "Echo a listing to the terminal"})
        both = (await s.call_tool("list_traces", {})).structured_content
        letter = (await s.call_tool("list_traces", {"query": "LETTER a.txt"})).structured_content
        by_id = (
            await s.call_tool("list_traces", {"query": first.structured_content["trace_id"][:6]})
        ).structured_content
        one = (await s.call_tool("list_traces", {"limit": 1})).structured_content
        none = (await s.call_tool("list_traces", {"query": "calculator"})).structured_content
        bad = await s.call_tool("list_traces", {"limit": 0})

    assert both["total"] == 2
    assert [row["goal"] for row in letter["traces"]] == ["Write the letter a into a.txt"]
    assert [row["goal"] for row in by_id["traces"]] == ["Write the letter a into a.txt"]
    assert one["total"] == 2 and len(one["traces"]) == 1
    assert none == {"total": 0, "traces": []}
    assert bad.is_error
    assert "limit" in text_of(bad)


async def test_follower_without_a_trace_is_a_tool_error_with_the_reason(
    tmp_path: Path, script: Path
):
    workspace = tmp_path / "ws"
    async with connect(workspace, "--provider", "scripted", "--script", str(script)) as s:
        failed = await s.call_tool("run_task", {"goal": GOAL, "mode": "follower"})
        assert failed.is_error
        assert text_of(failed) == (
            "llmos follower failed (no-match): no saved trace matches this goal well enough to "
            "replay; "
            "run it in mode auto or learner to learn it"
        )
        assert failed.structured_content["error_type"] == "NoMatch"
        assert failed.structured_content["success"] is False
        assert failed.structured_content["outcome"] == "failed"
        assert failed.structured_content["failure_kind"] == "no-match"
        assert not (workspace.parent / "hello.txt").exists()

        # The server goes on: the same session can still learn the task.
        learned = await s.call_tool("run_task", {"goal": GOAL})
        assert learned.structured_content["mode"] == "learner"


async def test_llmos_errors_become_tool_errors_and_the_server_keeps_serving(tmp_path: Path):
    missing = tmp_path / "missing.json"
    async with connect(tmp_path / "ws", "--provider", "scripted", "--script", str(missing)) as s:
        broken = await s.call_tool("run_task", {"goal": GOAL})
        empty = await s.call_tool("run_task", {"goal": "   "})
        wrong_mode = await s.call_tool("run_task", {"goal": GOAL, "mode": "orchestrate"})
        report = await s.call_tool("budget", {})

    assert broken.is_error
    assert text_of(broken) == (
        f"Error executing tool run_task: script file {missing} does not exist"
    )
    assert empty.is_error
    assert "the goal is empty" in text_of(empty)
    assert wrong_mode.is_error
    assert "mode" in text_of(wrong_mode)
    assert not report.is_error
    assert report.structured_content["calls"] == 0


def test_stdout_carries_only_json_rpc_messages(tmp_path: Path, script: Path):
    """Everything the server writes on stdout parses as JSON-RPC; its banner goes to stderr."""
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw-test", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "run_task", "arguments": {"goal": GOAL}},
        },
    ]
    server = subprocess.Popen(
        [
            *server_command(),
            "--workspace",
            str(tmp_path / "ws"),
            "--provider",
            "scripted",
            "--script",
            str(script),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(),
    )
    assert server.stdin and server.stdout
    watchdog = threading.Timer(120, server.kill)  # a hung server fails the test, not the run
    watchdog.start()
    server.stdin.write("".join(json.dumps(request) + "\n" for request in requests))
    server.stdin.flush()
    lines: list[str] = []
    # Stdin stays open until the task's answer arrives: closing it ends the session.
    while not lines or '"id":2' not in lines[-1]:
        line = server.stdout.readline()
        assert line, "the server closed stdout before answering"
        lines.append(line)
    stdout, stderr = server.communicate(timeout=60)
    watchdog.cancel()
    lines.extend(stdout.splitlines())
    assert server.returncode == 0, stderr
    messages = [json.loads(line) for line in lines]
    assert all(message["jsonrpc"] == "2.0" for message in messages)
    answers = {message["id"]: message for message in messages if "id" in message}
    assert answers[1]["result"]["serverInfo"]["name"] == "llmos"
    assert answers[2]["result"]["structuredContent"]["success"] is True
    assert "llmos MCP server on stdio" in stderr
    assert (tmp_path / "hello.txt").read_text() == "hello\n"


def test_a_bad_provider_is_refused_before_serving(tmp_path: Path):
    done = subprocess.run(
        [*server_command(), "--workspace", str(tmp_path / "ws"), "--provider", "nope"],
        input="",
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    assert "provider" in done.stderr and "'nope'" in done.stderr


def running_with(marker: str) -> list[int]:
    """Ids of live processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


async def eventually(condition: Callable[[], bool], what: str, seconds: float = 120) -> None:
    """Poll ``condition`` (process state has no event to wait on) until true, or fail."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await anyio.sleep(0.05)
    pytest.fail(f"gave up waiting {seconds} s for {what}")


async def test_a_cancelled_run_task_stops_the_task_and_the_server_goes_on(tmp_path: Path):
    marker = f"llmos-mcp-cancel-{tmp_path.name}"
    sleeper = f"python3 -c 'import time; time.sleep(60)' {marker}"
    script = tmp_path / "slow.json"
    script.write_text(
        json.dumps(
            [
                {"tool_calls": [{"name": "Bash", "input": {"command": sleeper}}]},
                {"text": "Slept."},
            ]
        )
    )
    workspace = tmp_path / "ws"
    started = anyio.Event()

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        if message and message.startswith("▸ Bash"):
            started.set()

    async with connect(workspace, "--provider", "scripted", "--script", str(script)) as s:
        async with anyio.create_task_group() as group:

            async def call() -> None:
                await s.call_tool("run_task", {"goal": "Sleep"}, progress_callback=on_progress)

            group.start_soon(call)
            await started.wait()
            await eventually(lambda: bool(running_with(marker)), "the command to start")
            group.cancel_scope.cancel()  # the client sends notifications/cancelled

        # The server kills the command of the cancelled task.
        await eventually(lambda: not running_with(marker), "the command to be killed")
        # It records the run as it unwinds, which the cancelled call does not wait for:
        # the server goes on answering meanwhile, and the record appears.
        for _ in range(1200):
            listed = await s.call_tool("list_traces", {})
            report = await s.call_tool("budget", {})
            if (
                listed.structured_content["total"]
                and not report.structured_content["open_reservations"]
            ):
                break
            await anyio.sleep(0.1)

    # The run spent money before it was cancelled: it is kept as a failed trace (the
    # record of what was paid for), never followed and never advice (issue 15, point 11).
    kept = [(t["goal"], t["status"]) for t in listed.structured_content["traces"]]
    assert kept == [("Sleep", "failed")]
    assert report.structured_content["open_reservations"] == 0


FORCE_PUSH = "git push --force origin main; touch pushed"
FORCE_PUSH_SCRIPT = [
    {"tool_calls": [{"name": "Bash", "input": {"command": FORCE_PUSH}}]},
    {"text": "Tried."},
]


async def test_a_security_ask_is_put_to_the_caller_who_decides(tmp_path: Path):
    script = tmp_path / "push.json"
    script.write_text(json.dumps(FORCE_PUSH_SCRIPT * 2))
    workspace = tmp_path / "ws"
    answers = [False, True]
    asked: list[ElicitRequestParams] = []

    async def answer(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params)
        return ElicitResult(action="accept", content={"approve": answers[len(asked) - 1]})

    async with connect(
        workspace, "--provider", "scripted", "--script", str(script), elicitation_callback=answer
    ) as s:
        refused = await s.call_tool("run_task", {"goal": "Force push", "mode": "learner"})
        assert not (workspace.parent / "pushed").exists()
        allowed = await s.call_tool("run_task", {"goal": "Force push", "mode": "learner"})
        assert (workspace.parent / "pushed").exists()

    # Refused, the run ends on a denied call: a policy failure. Allowed, it ran; "Force push"
    # names nothing the check can verify, so it is unverified (not an error).
    assert (refused.is_error, refused.structured_content["failure_kind"]) == (True, "policy")
    assert (allowed.is_error, allowed.structured_content["outcome"]) == (False, "unverified")
    assert len(asked) == 2
    assert asked[0].message.startswith(f"llmos needs approval for Bash {FORCE_PUSH}: ")
    assert "git push --force rewrites the remote's history" in asked[0].message
    assert asked[0].requested_schema["properties"]["approve"]["type"] == "boolean"


async def test_a_caller_that_cannot_answer_forms_gets_the_ask_denied(tmp_path: Path):
    script = tmp_path / "push.json"
    script.write_text(json.dumps(FORCE_PUSH_SCRIPT))
    workspace = tmp_path / "ws"
    async with connect(workspace, "--provider", "scripted", "--script", str(script)) as s:
        result = await s.call_tool("run_task", {"goal": "Force push", "mode": "learner"})

    assert result.structured_content["text"] == "Tried."
    assert not (workspace.parent / "pushed").exists()
