"""One path builds backends: an agent with a model of its own gets the plugin tools too.

The real claude-sdk backend runs the bundled Claude Code CLI against the
scripted fake Anthropic server on 127.0.0.1; the plugin is a workspace file.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from llmos import LLMOS
from llmos.agents import Agent
from llmos.config import load_settings
from llmos.testing.fake_llm_server import FakeLLMServer, Turn

PLUGIN = '''
from llmos import tool


@tool
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())
'''


def _workspace(root: Path, server: FakeLLMServer) -> Path:
    workspace = root / "ws"
    (workspace / "plugins").mkdir(parents=True)
    (workspace / "plugins" / "textkit.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    home = root / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": server.url,
        "ANTHROPIC_API_KEY": "sk-ant-fake-key-for-tests",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in env.items())
    (workspace / "llmos.toml").write_text(
        'provider = "claude-sdk"\n\n[claude]\nmodel = "claude-sonnet-4-5"\n'
        f"setting_sources = []\n\n[claude.env]\n{table}\n",
        encoding="utf-8",
    )
    return workspace


@pytest.mark.slow
async def test_an_agent_with_its_own_model_is_offered_the_plugin_tools(
    tmp_path: Path, fake_server: FakeLLMServer
) -> None:
    """Before, a per-agent model's backend was built past the factory, with no plugin tools."""
    fake_server.enqueue(Turn(text="nothing to count"))
    workspace = _workspace(tmp_path, fake_server)
    counter = Agent(name="counter", description="counts", prompt="Count.", model="claude-haiku-4-5")
    async with LLMOS(settings=load_settings(workspace=workspace, env={})) as llmos:
        assert "word_count" in llmos.tools.names()
        result = await llmos.dispatcher.run("Say hello", mode="learner", agent=counter)
    [first, *_] = fake_server.model_requests()
    offered = [spec["name"] for spec in first.body["tools"]]
    assert "mcp__llmos__word_count" in offered, offered
    assert first.body["model"] == "claude-haiku-4-5"
    assert result.error_type != "ConfigError"
