"""The same task through each real backend: the same kind of trace, replayed for free.

anthropic and openai go through their official SDKs, claude-sdk through the real
Claude Code CLI, all against the fake server on 127.0.0.1; local runs the embedded
model (its content is poor, so only the shape of its trace is checked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmos import LLMOS
from llmos.config import load_settings
from llmos.memory import TraceStore, parse_trace, render_trace
from llmos.testing.fake_llm_server import FakeLLMServer, ToolUse, Turn
from llmos.tools.base import sha256_text

GOAL = "Create hello.txt that says hello"


def settings_for(provider: str, workspace: Path, server: FakeLLMServer, home: Path) -> Any:
    overrides: dict[str, Any] = {"provider": provider, "tools.sandbox": False}
    if provider == "anthropic":
        overrides.update(base_url=server.url, model="claude-sonnet-4-6")
    elif provider == "openai":
        overrides.update(base_url=server.openai_url, model="gpt-4o-mini")
    elif provider == "claude-sdk":
        overrides["claude"] = {
            "model": "claude-sonnet-4-6",
            "setting_sources": [],
            "env": {
                "HOME": str(home),
                "ANTHROPIC_BASE_URL": server.url,
                "ANTHROPIC_API_KEY": "sk-ant-fake-key-for-tests",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            },
        }
    return load_settings(workspace=workspace, overrides=overrides)


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["anthropic", "openai", "claude-sdk"])
async def test_the_same_task_gives_the_same_trace_and_replays_without_the_model(
    provider: str, workspace: Path, tmp_path: Path, fake_server: FakeLLMServer
):
    home = tmp_path / "home"
    home.mkdir()
    output = workspace.parent
    # Claude Code's own Write tool wants an absolute path; llmos's accepts both.
    path = str(output / "hello.txt") if provider == "claude-sdk" else "hello.txt"
    fake_server.enqueue(
        Turn(tool_calls=[ToolUse(name="Write", input={"file_path": path, "content": "hello\n"})]),
        Turn(text="hello.txt says hello."),
    )
    async with LLMOS(settings=settings_for(provider, workspace, fake_server, home)) as llmos:
        learned = await llmos.execute(GOAL)
        assert learned.success, learned.error
        assert (learned.mode, learned.text) == ("learner", "hello.txt says hello.")
        assert (output / "hello.txt").read_text() == "hello\n"
        (output / "hello.txt").unlink()
        calls = len(fake_server.model_requests())
        followed = await llmos.execute(GOAL)

    trace = TraceStore.for_memory(workspace / "memory").load(learned.trace_id)
    assert trace.backend == provider and trace.status == "success"
    [step] = trace.steps
    # Kept relative to the working folder, whatever the model wrote: it replays elsewhere.
    assert (step.tool, dict(step.input)) == (
        "Write",
        {"file_path": "hello.txt", "content": "hello\n"},
    )
    assert dict(step.postcondition.files_written) == {"hello.txt": sha256_text("hello\n")}
    assert parse_trace(render_trace(trace)) == trace
    assert followed.mode == "follower" and followed.success
    assert len(fake_server.model_requests()) == calls  # the replay asked the model nothing
    assert (output / "hello.txt").read_text() == "hello\n"


@pytest.mark.slow
async def test_the_embedded_model_leaves_a_trace_of_the_same_format(workspace: Path):
    settings = load_settings(workspace=workspace, overrides={"provider": "local"})
    async with LLMOS(settings=settings) as llmos:
        result = await llmos.execute(GOAL)
    trace = TraceStore.for_memory(workspace / "memory").load(result.trace_id)
    assert trace.backend == "local" and trace.model.startswith("SmolLM2")
    assert parse_trace(render_trace(trace)) == trace
    assert all(step.tool in llmos.tools for step in trace.steps)
    assert trace.usage.input_tokens > 0  # real usage from the engine
