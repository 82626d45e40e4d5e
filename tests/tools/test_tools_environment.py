"""The environment of Bash is built from a policy; secret values never come back out."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos.config import load_settings
from llmos.engine.services import tool_settings
from llmos.tools import default_registry
from llmos.tools.base import ToolContext, ToolSettings
from llmos.tools.environment import EnvPolicy, build_environment

FAKE_KEY = "sk-ant-fake-0123456789abcdef"


def test_core_set_without_secret_looking_names() -> None:
    parent = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LC_ALL": "C.UTF-8",
        "ANTHROPIC_API_KEY": FAKE_KEY,
        "GITHUB_TOKEN": "ghp_abcdefghijkl",
        "DB_PASSWORD": "hunter2hunter2",
        "AWS_ACCESS_KEY_ID": "AKIAXXXXXXXXXXXX",
        "AWS_REGION": "eu-west-1",
        "GOOGLE_APPLICATION_CREDENTIALS": "/home/u/gcp.json",
        "EDITOR": "vim",
        "BASH_ENV": "/tmp/evil.sh",
    }
    env = build_environment(EnvPolicy(), parent)
    assert env.variables == {"PATH": "/usr/bin", "HOME": "/home/u", "LC_ALL": "C.UTF-8"}
    assert env.secrets[FAKE_KEY] == "ANTHROPIC_API_KEY"
    assert "hunter2hunter2" in env.secrets


def test_include_exclude_set_and_inherit_all() -> None:
    parent = {"PATH": "/bin", "EDITOR": "vim", "MY_KEY": "x" * 12, "BASH_ENV": "/x"}
    everything = build_environment(EnvPolicy(inherit="all"), parent)
    assert everything.variables == {"PATH": "/bin", "EDITOR": "vim"}  # never BASH_ENV
    kept = build_environment(
        EnvPolicy(inherit="all", ignore_default_excludes=True, exclude=("edit*",)), parent
    )
    assert kept.variables == {"PATH": "/bin", "MY_KEY": "x" * 12}
    assert kept.secrets == {}  # passed on purpose: not redacted
    only = build_environment(
        EnvPolicy(inherit="none", set={"A": "1", "B": "2"}, include_only=("a",)), parent
    )
    assert only.variables == {"A": "1"}


def test_config_table_reaches_the_tools(workspace: Path) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "llmos.toml").write_text(
        '[tools.env]\ninherit = "all"\nexclude = ["EDITOR"]\nset = { GREETING = "hi" }\n'
    )
    settings = tool_settings(load_settings(workspace=workspace, env={}))
    assert settings.env == EnvPolicy(inherit="all", exclude=("EDITOR",), set={"GREETING": "hi"})


@pytest.fixture
def folder(workspace: Path) -> Path:
    workspace.mkdir(parents=True, exist_ok=True)
    return workspace


async def test_env_in_bash_shows_no_secret_and_a_printed_secret_is_redacted(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = folder
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("SERVICE_PASSWORD", "correct-horse-battery")
    (workspace / "leak.txt").write_text(f"key={FAKE_KEY}\n")
    ctx = ToolContext(cwd=workspace, workspace=workspace, settings=ToolSettings(sandbox=False))
    registry = default_registry()
    env = await registry.execute("Bash", {"command": "env"}, ctx)
    assert env.exit_code == 0
    names = [line.partition("=")[0] for line in env.full_output.splitlines()]
    assert "PATH" in names
    assert not [n for n in names if any(w in n.upper() for w in ("KEY", "TOKEN", "PASSWORD"))]
    shown = await registry.execute("Bash", {"command": "cat leak.txt"}, ctx)
    assert shown.content == "key=[redacted: ANTHROPIC_API_KEY]"
    assert FAKE_KEY not in shown.full_output
    read = await registry.execute("Read", {"file_path": "leak.txt"}, ctx)
    assert FAKE_KEY not in read.content and "[redacted: ANTHROPIC_API_KEY]" in read.content


async def test_require_sandbox_refuses_bash_without_it(folder: Path) -> None:
    workspace = folder
    settings = ToolSettings(sandbox=False, require_sandbox=True)
    ctx = ToolContext(cwd=workspace, workspace=workspace, settings=settings)
    result = await default_registry().execute("Bash", {"command": "touch ran"}, ctx)
    assert result.is_error
    assert result.content.startswith(
        "Bash needs the OS sandbox (tools.require_sandbox = true) but tools.sandbox is off"
    )
    assert not (workspace / "ran").exists()
