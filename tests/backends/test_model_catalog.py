"""``llmos models``' lists, asked over HTTP of the fake server in each API's wire format.

Also: a server that is down or stuck is a line with what to check, within
the time-out, and the other providers are still listed.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmos.backends.catalog import KNOWN_ANTHROPIC, ProviderModels, list_models
from llmos.config import Settings
from llmos.testing.cli import run_llmos
from llmos.testing.fake_llm_server import FakeLLMServer


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(models=("claude-sonnet-4-6", "qwen2.5:7b")) as fake:
        yield fake


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _one(name: str, env: dict[str, str], **settings: object) -> ProviderModels:
    [found] = await list_models(Settings(**settings), env, providers=(name,), per_server_s=2)
    return found


async def test_anthropic_with_a_key_lists_what_its_models_endpoint_says(
    server: FakeLLMServer,
) -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": server.url}
    found = await _one("anthropic", env)
    assert found.models == ("claude-sonnet-4-6", "qwen2.5:7b")
    assert found.source == f"GET {server.url}/v1/models" and found.problem is None
    [asked] = server.requests
    assert asked.headers["x-api-key"] == "sk-ant-test"
    assert asked.headers["anthropic-version"] == "2023-06-01"


async def test_anthropic_without_a_key_shows_known_names_marked_as_such() -> None:
    found = await _one("anthropic", {})
    assert found.models == KNOWN_ANTHROPIC
    assert found.source.startswith("known names, not checked: set ANTHROPIC_API_KEY")


async def test_openai_lists_the_configured_base_url_and_sends_the_key(
    server: FakeLLMServer,
) -> None:
    found = await _one("openai", {"OPENAI_API_KEY": "sk-o"}, base_url=server.openai_url)
    assert found.models == ("claude-sonnet-4-6", "qwen2.5:7b")
    assert server.requests[0].path == "/v1/models"
    assert server.requests[0].headers["authorization"] == "Bearer sk-o"


async def test_openai_unconfigured_says_what_to_set() -> None:
    found = await _one("openai", {})
    assert found.models == () and found.problem is not None
    assert "set OPENAI_API_KEY, or OPENAI_BASE_URL" in found.problem


async def test_ollama_lists_the_server_at_ollama_host_with_its_default(
    server: FakeLLMServer,
) -> None:
    found = await _one("ollama", {"OLLAMA_HOST": f"127.0.0.1:{server.port}"})
    assert found.models == ("claude-sonnet-4-6", "qwen2.5:7b")
    assert found.default == "qwen2.5:7b"
    assert "authorization" not in server.requests[0].headers  # no key for Ollama


async def test_a_server_that_is_down_is_one_line_and_the_others_are_listed() -> None:
    url = f"http://127.0.0.1:{_unused_port()}"
    started = time.monotonic()
    found = await list_models(Settings(), {"OLLAMA_HOST": url})
    assert time.monotonic() - started < 30
    by_name = {entry.provider: entry for entry in found}
    assert list(by_name) == ["anthropic", "openai", "ollama", "local", "claude-sdk"]
    problem = by_name["ollama"].problem or ""
    assert f"cannot reach {url}/v1/models" in problem and "`ollama serve`" in problem
    assert by_name["claude-sdk"].models[-3:] == ("sonnet", "opus", "haiku")


async def test_a_server_that_hangs_is_cut_off_at_the_time_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    try:
        started = time.monotonic()
        found = await _one("ollama", {}, provider="ollama", base_url=url)
        took = time.monotonic() - started
    finally:
        for conn in [*held, listener]:
            conn.close()
    assert found.problem is not None and "did not answer within 2 s" in found.problem
    assert took < 30


async def test_local_lists_the_embedded_model_and_the_given_gguf_files(tmp_path: Path) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF")
    missing = tmp_path / "gone.gguf"
    [found] = await list_models(
        Settings(model=str(missing)), {}, providers=("local",), given=(str(model),)
    )
    assert str(model) in found.models
    assert f"{missing}: no such file" in found.notes


def test_llmos_models_json_lists_each_provider_over_http(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    env = {
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": server.url,
        "OLLAMA_HOST": server.url,
    }
    done = run_llmos("models", "--json", cwd=tmp_path, workspace=tmp_path / "ws", env=env)
    assert done.returncode == 0, done.stderr
    rows = {row["provider"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert rows["anthropic"]["models"] == ["claude-sonnet-4-6", "qwen2.5:7b"]
    assert rows["ollama"]["source"] == f"GET {server.url}/v1/models"
    assert rows["openai"]["problem"].startswith("not configured")
    assert not (tmp_path / "ws").exists()  # listing creates nothing


def test_llmos_models_for_one_provider_in_words(tmp_path: Path, server: FakeLLMServer) -> None:
    done = run_llmos(
        "models", "--provider", "ollama", "--base-url", server.openai_url, cwd=tmp_path,
        workspace=tmp_path / "ws",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("● ollama (GET ")
    assert "    qwen2.5:7b (default)" in done.stdout
