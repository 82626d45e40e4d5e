"""Choosing a provider from the command line: a missing SDK is an error, Ollama is one word.

Real ``llmos`` subprocesses. A ``sitecustomize`` on ``PYTHONPATH`` hides the
SDK packages from the child, as on a machine where they were never
installed; the Ollama runs talk over HTTP to the scripted fake server on
127.0.0.1 in the OpenAI wire format Ollama serves at ``/v1``.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from llmos.backends.factory import _EXTRA_MODULES
from llmos.testing.cli import run_llmos
from llmos.testing.fake_llm_server import FakeLLMServer, ToolUse, Turn

HIDE_PACKAGES = '''
import sys

HIDDEN = {names!r}


class _Hide:
    """Every import finder, blind to the hidden packages."""

    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            return None
        return self.finder.find_spec(name, path, target)

    def __getattr__(self, attr):
        return getattr(self.finder, attr)


sys.meta_path[:] = [_Hide(finder) for finder in sys.meta_path]
'''


def _without(tmp_path: Path, *packages: str) -> dict[str, str]:
    """The environment of a child in which ``packages`` cannot be imported."""
    shim = tmp_path / "shim"
    shim.mkdir()
    code = textwrap.dedent(HIDE_PACKAGES).format(names=set(packages))
    (shim / "sitecustomize.py").write_text(code, encoding="utf-8")
    return {"PYTHONPATH": str(shim)}


def test_a_key_with_the_sdk_missing_fails_with_this_venvs_install_command(
    tmp_path: Path,
) -> None:
    """Before, the run fell back to the embedded model without a word."""
    env = _without(tmp_path, "anthropic", "claude_agent_sdk")
    env["ANTHROPIC_API_KEY"] = "sk-ant-test"
    done = run_llmos(
        "run", "Create a.txt saying hi", cwd=tmp_path, workspace=tmp_path / "ws", env=env
    )
    assert done.returncode != 0
    assert f"{sys.executable} -m pip install 'llmos[anthropic]'" in done.stderr
    assert "ANTHROPIC_API_KEY is set" in done.stderr
    assert not list(tmp_path.rglob("a.txt"))


def test_a_chosen_provider_with_its_package_missing_names_the_command(tmp_path: Path) -> None:
    env = _without(tmp_path, "openai")
    done = run_llmos(
        "run", "--provider", "ollama", "Say hi", cwd=tmp_path, workspace=tmp_path / "ws", env=env
    )
    assert done.returncode != 0
    assert f"{sys.executable} -m pip install 'llmos[openai]'" in done.stderr


@pytest.fixture
def ollama() -> FakeLLMServer:
    with FakeLLMServer(models=("qwen2.5:7b", "llama3.2:3b")) as server:
        yield server


def test_provider_ollama_runs_against_the_server_at_ollama_host_with_no_key(
    tmp_path: Path, ollama: FakeLLMServer
) -> None:
    write = ToolUse(name="Write", input={"file_path": "a.txt", "content": "hi\n"})
    ollama.enqueue(Turn(tool_calls=[write]), Turn(text="a.txt is written"))
    env = {
        "OLLAMA_HOST": f"127.0.0.1:{ollama.port}",  # as Ollama's own CLI reads it
        "OPENAI_API_KEY": "sk-openai-must-not-leak",
    }
    done = run_llmos(
        "run", "--provider", "ollama", "Create a.txt saying hi", cwd=tmp_path,
        workspace=tmp_path / "ws", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [written] = tmp_path.rglob("a.txt")
    assert written.read_text() == "hi\n"
    first = ollama.model_requests()[0]
    assert first.path == "/v1/chat/completions"
    assert first.body["model"] == "qwen2.5:7b"  # the default model
    assert "sk-openai-must-not-leak" not in first.headers.get("authorization", "")


def test_provider_ollama_in_the_settings_file_with_a_base_url(
    tmp_path: Path, ollama: FakeLLMServer
) -> None:
    ollama.enqueue(Turn(text="hello from ollama"))
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "llmos.toml").write_text(
        f'provider = "ollama"\nmodel = "llama3.2:3b"\nbase_url = "{ollama.openai_url}"\n',
        encoding="utf-8",
    )
    done = run_llmos("run", "-q", "Say hello", cwd=tmp_path, workspace=workspace)
    assert done.returncode == 0, done.stderr
    assert "hello from ollama" in done.stdout
    assert ollama.model_requests()[0].body["model"] == "llama3.2:3b"


def test_ollama_down_fails_in_seconds_saying_how_to_start_it(tmp_path: Path) -> None:
    with FakeLLMServer() as gone:
        url = gone.openai_url  # a port that was just free, now closed again
    done = run_llmos(
        "run", "--provider", "ollama", "--base-url", url, "Say hi", cwd=tmp_path,
        workspace=tmp_path / "ws", timeout_s=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"cannot reach the ollama server at {url}" in done.stderr
    assert "start it with `ollama serve`" in done.stderr


def test_install_sh_installs_the_packages_of_the_readme_providers() -> None:
    """The README's Claude (anthropic) and Ollama (openai SDK) lines work after ./install.sh."""
    root = Path(__file__).resolve().parents[2]
    script = (root / "install.sh").read_text(encoding="utf-8")
    [line] = [x for x in script.splitlines() if x.startswith("extras=")]
    installed = set(line.split("=", 1)[1].strip('"').split(","))
    for provider in ("anthropic", "ollama", "local"):
        assert _EXTRA_MODULES[provider][1] in installed, provider
    assert "claude" not in installed  # the bundled CLI is large: an opt-in extra


def test_llmos_providers_lists_ollama_with_its_address(tmp_path: Path) -> None:
    done = run_llmos(
        "providers", "--json", cwd=tmp_path, workspace=tmp_path / "ws",
        env={"OLLAMA_HOST": "10.1.2.3"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert rows["ollama"]["model"] == "qwen2.5:7b"
    assert "http://10.1.2.3:11434/v1" in rows["ollama"]["detail"]
