"""The claude-sdk backend, run on the real bundled Claude Code CLI.

The CLI is pointed at the scripted fake Anthropic server on 127.0.0.1
(``ANTHROPIC_BASE_URL``, a fake key, non-essential traffic off, a temporary
``HOME``); nothing in the SDK is mocked. Each test scripts the model's turns,
lets Claude Code run its real tools in a temporary working directory and checks
what llmos saw through its hook pipeline and events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from llmos.backends.base import AgentRun
from llmos.backends.claude_sdk import ClaudeSDKBackend, sdk_mcp_server_for
from llmos.config import ClaudeConfig
from llmos.errors import AuthError, BackendError, BackendUnavailable, ConfigError
from llmos.events import Event, TextStreamed, ToolCallFinished, ToolCallStarted, UsageUpdated
from llmos.hooks.inputs import HookContext, PreToolUseInput, UserPromptSubmitInput
from llmos.hooks.pipeline import AddContext, Deny, HookPipeline, Rewrite
from llmos.hooks.trace_capture import TraceRecorder
from llmos.messages import Usage
from llmos.testing.fake_claude_cli import Mode, write_fake_cli
from llmos.testing.fake_llm_server import FakeLLMServer, Fault, ToolUse, Turn
from llmos.tools.base import Tool, ToolContext, ToolResult, sha256_text

SYSTEM = "You are the agent of llmos. LLMOS-SYSTEM-MARKER"
TOOLS = ("Read", "Write", "Edit", "Bash", "Glob", "Grep", "LS")
#: The bundled CLI's list price for claude-sonnet-4-5, in dollars per token.
SONNET_INPUT, SONNET_OUTPUT = 3e-6, 15e-6


@dataclass
class Harness:
    """One task's pipeline, recorder and event log, and a way to build its AgentRun."""

    cwd: Path
    workspace: Path
    task_id: str = "t-claude"
    pipeline: HookPipeline = field(default_factory=HookPipeline)
    events: list[Event] = field(default_factory=list)
    recorder: TraceRecorder = field(init=False)

    def __post_init__(self) -> None:
        self.recorder = TraceRecorder(task_id=self.task_id)
        self.pipeline.register(self.recorder.hook())

    async def publish(self, event: Event) -> None:
        self.events.append(event)

    def run(
        self,
        goal: str,
        *,
        tools: Sequence[str] = TOOLS,
        max_turns: int = 10,
        agents: Sequence[object] = (),
        cwd: Path | None = None,
    ) -> AgentRun:
        ctx = HookContext(
            task_id=self.task_id, goal=goal, cwd=cwd or self.cwd, workspace=self.workspace
        )
        return AgentRun(
            goal=goal,
            system=SYSTEM,
            cwd=str(cwd or self.cwd),
            tools=tools,
            max_turns=max_turns,
            hooks=self.pipeline,
            hook_ctx=ctx,
            publish=self.publish,
            agents=agents,
        )

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    cwd = tmp_path / "work"
    cwd.mkdir()
    return Harness(cwd=cwd, workspace=tmp_path)


@pytest.fixture
def claude_options(tmp_path: Path, fake_server: FakeLLMServer) -> dict[str, Any]:
    """The [claude] table that points the real CLI at the fake server, in a temporary HOME."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": fake_server.url,
        "ANTHROPIC_API_KEY": "sk-ant-fake-key-for-tests",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    config = ClaudeConfig(env=env, model="claude-sonnet-4-5", setting_sources=[])
    return config.model_dump()


@pytest.fixture
async def backend(claude_options: dict[str, Any]) -> Any:
    backend = ClaudeSDKBackend(options=claude_options)
    yield backend
    await backend.aclose()


def _request_text(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False)


def _claude_children() -> list[int]:
    """Pids of Claude Code CLI processes started by this test process."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"claude" in cmdline:
            children.append(int(entry.name))
    return children


@pytest.mark.slow
async def test_write_tool_use_writes_the_file_passes_the_hooks_and_reports_cli_cost(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer
) -> None:
    """A scripted Write really writes; PreToolUse and PostToolUse see it; cost is the CLI's."""
    target = harness.cwd / "hello.txt"
    fake_server.enqueue(
        Turn(
            text="Writing the file.",
            tool_calls=[
                ToolUse(name="Write", input={"file_path": str(target), "content": "hello\n"})
            ],
        ),
        Turn(text="Done: hello.txt says hello."),
    )
    seen_before: list[tuple[str, Mapping[str, Any]]] = []

    @harness.pipeline.on("PreToolUse")
    def watch(data: PreToolUseInput) -> None:
        seen_before.append((data.tool, dict(data.tool_input)))

    outcome = await backend.run_agent(harness.run("Create hello.txt that says hello"))

    assert target.read_text() == "hello\n"
    assert seen_before == [("Write", {"file_path": str(target), "content": "hello\n"})]
    [call] = harness.recorder.calls
    assert (call.tool, call.input["file_path"]) == ("Write", "hello.txt")  # kept relative
    assert call.result.files_written == {"hello.txt": sha256_text("hello\n")}
    assert not call.result.is_error

    assert outcome.success and outcome.error is None
    assert outcome.text == "Done: hello.txt says hello."
    assert outcome.model == "claude-sonnet-4-5"
    assert outcome.turns == 2
    assert outcome.usage == Usage(input_tokens=20, output_tokens=10)
    assert outcome.cost_usd == pytest.approx(20 * SONNET_INPUT + 10 * SONNET_OUTPUT)
    [usage_event] = harness.of(UsageUpdated)
    assert (usage_event.model, usage_event.cost_usd) == ("claude-sonnet-4-5", outcome.cost_usd)

    streamed = "".join(e.text for e in harness.of(TextStreamed))
    assert "Writing the file." in streamed and "Done: hello.txt says hello." in streamed
    [started] = harness.of(ToolCallStarted)
    [finished] = harness.of(ToolCallFinished)
    assert started.tool == finished.tool == "Write"
    assert started.call_id == finished.call_id and not finished.is_error

    first = fake_server.model_requests()[0].body
    assert "LLMOS-SYSTEM-MARKER" in _request_text(first["system"])
    assert "Create hello.txt that says hello" in _request_text(first["messages"])


@pytest.mark.slow
async def test_denying_security_hook_stops_bash_and_the_model_reads_the_reason(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer
) -> None:
    """A fail-closed PreToolUse deny: the command never runs, the next request says why."""
    fake_server.enqueue(
        Turn(tool_calls=[ToolUse(name="Bash", input={"command": "touch pwned.txt"})]),
        Turn(text="Understood, I will not do that."),
    )

    @harness.pipeline.on("PreToolUse", matcher="Bash", fail_closed=True)
    def security(data: PreToolUseInput) -> Deny | None:
        if "touch" in str(data.tool_input.get("command")):
            return Deny("creating files with touch is forbidden by policy")
        return None

    outcome = await backend.run_agent(harness.run("Make a file"))

    assert not (harness.cwd / "pwned.txt").exists()
    assert harness.recorder.calls == []  # a denied call is not a step of the trace
    [finished] = harness.of(ToolCallFinished)
    assert finished.is_error and "forbidden by policy" in finished.output
    second = _request_text(fake_server.model_requests()[1].body["messages"])
    assert "Denied by the security hook: creating files with touch is forbidden by policy" in second
    assert outcome.success and outcome.text == "Understood, I will not do that."


@pytest.mark.slow
async def test_a_broken_pre_tool_use_bridge_blocks_the_call(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer
) -> None:
    """PreToolUse fails closed: if llmos cannot judge a call, Claude Code does not run it."""
    fake_server.enqueue(
        Turn(tool_calls=[ToolUse(name="Bash", input={"command": "touch unchecked.txt"})]),
        Turn(text="gave up"),
    )

    async def broken_publish(event: Event) -> None:
        if isinstance(event, ToolCallStarted):
            raise RuntimeError("event bus is down")

    run = dataclasses.replace(harness.run("touch a file"), publish=broken_publish)
    outcome = await backend.run_agent(run)

    assert not (harness.cwd / "unchecked.txt").exists()
    assert outcome.text == "gave up"


@pytest.mark.slow
async def test_rewrite_changes_the_input_claude_code_runs(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer
) -> None:
    """A Rewrite decision becomes the SDK's updatedInput: the rewritten command runs."""
    fake_server.enqueue(
        Turn(tool_calls=[ToolUse(name="Bash", input={"command": "echo original > out.txt"})]),
        Turn(text="ok"),
    )

    @harness.pipeline.on("PreToolUse", matcher="Bash")
    def rewrite(data: PreToolUseInput) -> Rewrite:
        return Rewrite({**data.tool_input, "command": "echo rewritten > out.txt"})

    await backend.run_agent(harness.run("Write out.txt"))

    assert (harness.cwd / "out.txt").read_text() == "rewritten\n"
    [call] = harness.recorder.calls
    assert call.input["command"] == "echo rewritten > out.txt"


@pytest.mark.slow
async def test_recorded_results_carry_the_facts_a_follower_checks(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer
) -> None:
    """Exit codes for Bash, files read for Read, digests of files written for Edit."""
    notes = str(harness.cwd / "notes.txt")
    fake_server.enqueue(
        Turn(tool_calls=[ToolUse(name="Bash", input={"command": "echo draft > notes.txt"})]),
        Turn(tool_calls=[ToolUse(name="Read", input={"file_path": notes})]),
        Turn(
            tool_calls=[
                ToolUse(
                    name="Edit",
                    input={"file_path": notes, "old_string": "draft", "new_string": "final"},
                )
            ]
        ),
        Turn(tool_calls=[ToolUse(name="Bash", input={"command": "echo oops; exit 3"})]),
        Turn(text="ok"),
    )

    await backend.run_agent(harness.run("Draft, read, edit, fail"))

    bash, read, edit, failing = (call.result for call in harness.recorder.calls)
    assert (bash.exit_code, bash.is_error) == (0, False)
    assert read.files_read == ("notes.txt",) and "draft" in read.content
    assert edit.files_written == {"notes.txt": sha256_text("final\n")}
    assert (failing.exit_code, failing.is_error) == (3, True)
    assert "oops" in failing.content


@pytest.mark.slow
async def test_warm_client_serves_a_second_task_with_a_fresh_conversation(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer
) -> None:
    """The second task reuses the CLI, starts from a clean context and pays only for itself."""
    fake_server.enqueue(Turn(text="first answer"), Turn(text="second answer"))

    first = await backend.run_agent(harness.run("FIRST-GOAL"))
    second = await backend.run_agent(harness.run("SECOND-GOAL"))

    assert backend.cli_starts == 1
    assert (first.text, second.text) == ("first answer", "second answer")
    later = _request_text(fake_server.model_requests()[1].body["messages"])
    assert "SECOND-GOAL" in later and "FIRST-GOAL" not in later
    assert second.usage == Usage(input_tokens=10, output_tokens=5)
    assert second.cost_usd == pytest.approx(first.cost_usd)


@pytest.mark.slow
async def test_concurrent_tasks_each_get_a_cli_and_one_stays_warm(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer
) -> None:
    fake_server.fallback = Turn(text="done")

    outcomes = await asyncio.gather(
        backend.run_agent(harness.run("task A")), backend.run_agent(harness.run("task B"))
    )

    assert [o.text for o in outcomes] == ["done", "done"]
    assert backend.cli_starts == 2
    assert len(_claude_children()) == 1


@pytest.mark.slow
async def test_a_task_in_another_directory_starts_another_cli(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    """The CLI's working directory is fixed at start-up, so a new one needs a new process."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    fake_server.enqueue(Turn(text="one"), Turn(text="two"))

    await backend.run_agent(harness.run("in work"))
    await backend.run_agent(harness.run("elsewhere", cwd=elsewhere))

    assert backend.cli_starts == 2
    assert len(_claude_children()) == 1  # the first process was stopped, not leaked


@pytest.mark.slow
async def test_user_prompt_submit_context_reaches_the_model(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer
) -> None:
    fake_server.enqueue(Turn(text="noted"))

    @harness.pipeline.on("UserPromptSubmit")
    def memory(data: UserPromptSubmitInput) -> AddContext:
        return AddContext(f"Past experience for {data.prompt!r}: PAST-EXPERIENCE-42")

    await backend.run_agent(harness.run("Do the thing"))

    sent = _request_text(fake_server.model_requests()[0].body["messages"])
    assert "Past experience for 'Do the thing': PAST-EXPERIENCE-42" in sent


@pytest.mark.slow
async def test_stop_hook_hears_the_final_text(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer
) -> None:
    fake_server.enqueue(Turn(text="all finished"))
    heard: list[str | None] = []
    harness.pipeline.on("Stop")(lambda data: heard.append(data.text))

    await backend.run_agent(harness.run("finish"))

    assert heard == ["all finished"]


class WordCount(Tool):
    """A plugin tool Claude Code does not have."""

    name = "word_count"
    description = "Count the words of a text."
    source = "plugin:test"

    class Input(BaseModel):
        text: str

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        count = len(args.text.split())
        return ToolResult(
            content=f"{count} words", output=f"counted {count} words in {ctx.cwd.name}"
        )


@pytest.mark.slow
async def test_plugin_tool_is_offered_as_an_in_process_mcp_tool(
    claude_options: dict[str, Any], harness: Harness, fake_server: FakeLLMServer
) -> None:
    """The model calls mcp__llmos__word_count; llmos runs it, hooks and trace see ``word_count``."""
    fake_server.enqueue(
        Turn(tool_calls=[ToolUse(name="mcp__llmos__word_count", input={"text": "one two three"})]),
        Turn(text="three words"),
    )
    backend = ClaudeSDKBackend(options=claude_options, tools=[WordCount()])
    try:
        await backend.run_agent(harness.run("count", tools=(*TOOLS, "word_count")))
    finally:
        await backend.aclose()

    offered = [t["name"] for t in fake_server.model_requests()[0].body["tools"]]
    assert "mcp__llmos__word_count" in offered
    [call] = harness.recorder.calls
    assert (call.tool, dict(call.input)) == ("word_count", {"text": "one two three"})
    assert call.result.full_output == "counted 3 words in work"
    assert "3 words" in _request_text(fake_server.model_requests()[1].body["messages"])


@dataclass(frozen=True)
class AgentDef:
    """An llmos agent definition, as far as the backend reads it."""

    name: str
    description: str
    prompt: str
    tools: Sequence[str] | None = None
    model: str | None = None


@pytest.mark.slow
async def test_agents_run_as_sdk_subagents_and_their_usage_is_counted(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer
) -> None:
    """An llmos agent becomes an AgentDefinition; its model's usage and cost are in the outcome."""
    reviewer = AgentDef(
        name="reviewer",
        description="Reviews text for typos",
        prompt="You review text. REVIEWER-PROMPT",
        tools=["Read"],
        model="claude-haiku-4-5",
    )
    call = {"description": "review", "prompt": "review it", "subagent_type": "reviewer"}
    fake_server.enqueue(Turn(tool_calls=[ToolUse(name="Agent", input=call)]))
    # The sub-agent and the main thread then ask concurrently; both get a plain answer.
    fake_server.fallback = Turn(text="looks fine")

    outcome = await backend.run_agent(harness.run("review", agents=[reviewer]))

    by_model = {r.body["model"]: r.body for r in fake_server.model_requests()}
    assert "REVIEWER-PROMPT" in _request_text(by_model["claude-haiku-4-5"]["system"])
    models = {e.model for e in harness.of(UsageUpdated)}
    assert models == {"claude-sonnet-4-5", "claude-haiku-4-5"}
    assert outcome.usage.input_tokens == sum(e.usage.input_tokens for e in harness.of(UsageUpdated))
    assert outcome.cost_usd == pytest.approx(sum(e.cost_usd for e in harness.of(UsageUpdated)))
    assert harness.recorder.calls[0].tool == "Agent"


@pytest.mark.slow
async def test_turn_limit_ends_the_run_unsuccessfully(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer
) -> None:
    fake_server.enqueue(Turn(tool_calls=[ToolUse(name="Bash", input={"command": "true"})]))
    fake_server.fallback = Turn(tool_calls=[ToolUse(name="Bash", input={"command": "true"})])

    outcome = await backend.run_agent(harness.run("loop forever", max_turns=1))

    assert not outcome.success
    assert outcome.error is not None and "max_turns" in outcome.error
    assert outcome.cost_usd > 0


@pytest.mark.slow
async def test_cancelled_run_stops_the_cli_process(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer
) -> None:
    """Cancelling mid-call leaves no CLI process behind; the next run starts a new one."""
    fake_server.enqueue(Fault.stall(seconds=20), Turn(text="after"))
    running = asyncio.create_task(backend.run_agent(harness.run("hang")))
    for _ in range(200):
        if fake_server.model_requests():
            break
        await asyncio.sleep(0.05)
    assert _claude_children()

    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    assert _claude_children() == []
    fake_server.release()
    outcome = await backend.run_agent(harness.run("again"))
    assert outcome.text == "after" and backend.cli_starts == 2


@pytest.mark.slow
async def test_cli_start_failure_is_a_backend_error_with_the_cli_stderr(
    claude_options: dict[str, Any], harness: Harness
) -> None:
    backend = ClaudeSDKBackend(options={**claude_options, "extra_args": {"no-such-flag": None}})
    with pytest.raises(BackendError, match="no-such-flag") as caught:
        await backend.run_agent(harness.run("anything"))
    assert "the CLI's last error output" in str(caught.value)
    assert _claude_children() == []
    await backend.aclose()


async def test_missing_cli_is_unavailable_and_names_the_install_command(
    claude_options: dict[str, Any], harness: Harness, tmp_path: Path
) -> None:
    options = {**claude_options, "cli_path": str(tmp_path / "no" / "claude")}
    backend = ClaudeSDKBackend(options=options)
    with pytest.raises(BackendUnavailable, match=r"pip install 'llmos\[claude\]'"):
        await backend.run_agent(harness.run("anything"))
    await backend.aclose()


def test_unknown_setting_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="unknown \\[claude\\] setting 'max_turn'") as caught:
        ClaudeSDKBackend(options={"max_turn": 3})
    assert caught.value.key == "claude.max_turn"


@pytest.mark.skipif(os.geteuid() != 0, reason="the CLI refuses bypassPermissions only as root")
def test_bypass_permissions_as_root_is_refused_up_front() -> None:
    with pytest.raises(ConfigError, match="use 'acceptEdits'"):
        ClaudeSDKBackend(options={"permission_mode": "bypassPermissions"})


async def test_sdk_mcp_server_for_serves_llmos_tools_over_mcp(tmp_path: Path) -> None:
    """A real MCP client lists the tool with its schema and calls it through llmos's registry."""
    from mcp import Client

    seen: list[ToolResult] = []
    config = sdk_mcp_server_for(
        [WordCount()],
        ToolContext(cwd=tmp_path, workspace=tmp_path),
        on_result=lambda _name, _input, result: seen.append(result),
    )
    async with Client(config["instance"]) as client:
        [tool] = (await client.list_tools()).tools
        answered = await client.call_tool("word_count", {"text": "a b"})
        refused = await client.call_tool("word_count", {"words": "a b"})

    assert (tool.name, tool.input_schema["required"]) == ("word_count", ["text"])
    assert (answered.content[0].text, answered.is_error) == ("2 words", False)
    assert seen[0].output == f"counted 2 words in {tmp_path.name}"
    assert refused.is_error


@pytest.fixture(autouse=True)
def no_cli_left_behind() -> Iterator[None]:
    yield
    assert _claude_children() == [], "a test left a Claude Code CLI process running"


@pytest.mark.slow
async def test_refused_key_and_failed_model_calls_are_typed_backend_errors(
    backend: ClaudeSDKBackend, harness: Harness, fake_server: FakeLLMServer
) -> None:
    """The CLI's API errors end the task as llmos errors that carry the HTTP status."""
    no_retry = {"x-should-retry": "false"}
    fake_server.enqueue(Fault.http(401, message="invalid x-api-key", headers=no_retry))
    with pytest.raises(AuthError, match="Check ANTHROPIC_API_KEY") as refused:
        await backend.run_agent(harness.run("x"))
    assert refused.value.status == 401

    # An empty script answers 500 with x-should-retry: false.
    with pytest.raises(BackendError, match=r"HTTP 500.*script is exhausted") as failed:
        await backend.run_agent(harness.run("y"))
    assert failed.value.status == 500
    assert backend.cli_starts == 2  # a failed run does not leave its CLI warm


def _unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("mode", "says"),
    [("silent", "did not answer within 2 s of starting"), ("mute", "sent nothing for 2 s")],
)
async def test_a_cli_that_never_answers_fails_within_connect_timeout(
    harness: Harness, tmp_path: Path, mode: Mode, says: str
) -> None:
    """Stuck at start-up or after the task: the run fails in seconds, not after the SDK's
    60 s (start_timeout) or never (connect_timeout)."""
    cli = write_fake_cli(tmp_path, mode)
    start_timeout = 2 if mode == "silent" else 60  # the mute one must get past its start
    backend = ClaudeSDKBackend(
        options={"cli_path": str(cli)}, connect_timeout=2, start_timeout=start_timeout
    )
    started = time.monotonic()
    with pytest.raises(BackendError, match=re.escape(says)) as caught:
        await backend.run_agent(harness.run("anything"))
    assert time.monotonic() - started < 30  # 2 s plus a generous start on a busy machine
    assert "Check that the CLI runs ([claude] cli_path, extra_args)" in str(caught.value)
    assert _claude_children() == []
    await backend.aclose()


@pytest.mark.slow
async def test_offline_the_real_cli_fails_fast_and_says_what_to_check(
    claude_options: dict[str, Any], harness: Harness
) -> None:
    """Unreachable, the CLI retries for minutes (190 s seen); llmos stops at connect_timeout."""
    url = f"http://127.0.0.1:{_unused_port()}"
    options = {**claude_options, "env": {**claude_options["env"], "ANTHROPIC_BASE_URL": url}}
    backend = ClaudeSDKBackend(options=options, connect_timeout=3)
    started = time.monotonic()
    with pytest.raises(BackendError, match=f"cannot reach the model server at {url}") as caught:
        await backend.run_agent(harness.run("Say hi"))
    assert time.monotonic() - started < 15
    assert "check the network connection, ANTHROPIC_BASE_URL" in str(caught.value)
    assert _claude_children() == []
    await backend.aclose()


@pytest.mark.slow
async def test_a_reachable_slow_server_is_waited_for_past_connect_timeout(
    claude_options: dict[str, Any], harness: Harness, fake_server: FakeLLMServer
) -> None:
    """The bound is for silence and unreachable servers: a model slow to answer is not cut."""
    fake_server.enqueue(Fault.stall(Turn(text="late but fine"), seconds=20))
    backend = ClaudeSDKBackend(options=claude_options, connect_timeout=2)
    running = asyncio.create_task(backend.run_agent(harness.run("Say hi")))
    for _ in range(400):
        if fake_server.model_requests():
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(4)  # twice connect_timeout with the request held
    fake_server.release()
    outcome = await running
    assert outcome.text == "late but fine"
    await backend.aclose()
