"""Which provider runs: a key never falls back to the embedded model, Ollama is found where
its own CLI looks."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from llmos.backends import factory
from llmos.backends.factory import create_backend, ollama_url, select_provider
from llmos.backends.openai import OllamaBackend
from llmos.config import Settings
from llmos.errors import BackendUnavailable


@pytest.fixture
def no_anthropic_sdks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the anthropic nor the Claude Agent SDK can be found, as if never installed."""
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        if name in ("anthropic", "claude_agent_sdk"):
            return None
        return real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(factory.importlib.util, "find_spec", find_spec)


@pytest.mark.usefixtures("no_anthropic_sdks")
def test_a_key_without_its_sdk_selects_anthropic_and_building_it_names_the_command() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-test"}
    assert select_provider(Settings(), env)[0] == "anthropic"
    with pytest.raises(BackendUnavailable) as caught:
        create_backend(Settings(), env)
    assert f"{sys.executable} -m pip install 'llmos[anthropic]'" in str(caught.value)
    assert "(ANTHROPIC_API_KEY is set)" in str(caught.value)


@pytest.mark.usefixtures("no_anthropic_sdks")
def test_with_nothing_configured_the_embedded_model_is_still_the_default() -> None:
    assert select_provider(Settings(), {})[0] == "local"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("", "http://localhost:11434/v1"),
        ("127.0.0.1:9999", "http://127.0.0.1:9999/v1"),
        ("gpu-box", "http://gpu-box:11434/v1"),
        ("https://ollama.example.org/", "https://ollama.example.org/v1"),
        ("http://[::1]:8080", "http://[::1]:8080/v1"),
    ],
)
def test_ollama_is_where_ollama_host_says(host: str, url: str) -> None:
    assert ollama_url({"OLLAMA_HOST": host} if host else {}) == url


async def test_the_ollama_provider_needs_no_key_and_has_a_default_model() -> None:
    backend = create_backend(Settings(provider="ollama"), {})
    try:
        assert isinstance(backend, OllamaBackend)
        assert (backend.name, backend.model) == ("ollama", "qwen2.5:7b")
        assert backend.base_url == "http://localhost:11434/v1"
    finally:
        await backend.aclose()
