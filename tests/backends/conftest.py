"""Fixtures for backend tests: a scripted fake LLM server, and a guard against the network.

Every HTTP request made through httpx or httpx2 (which both official SDKs use)
must go to 127.0.0.1; anything else fails the test before a byte leaves the machine. Real
keys and base URLs in the environment are hidden so they can never be used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import httpx2
import pytest

from llmos.backends.base import BackendEvent
from llmos.testing.fake_llm_server import FakeLLMServer

ALLOWED_HOSTS = frozenset({"127.0.0.1"})

_PROVIDER_ENV = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
)


def _refuse_remote(url: httpx.URL | httpx2.URL) -> None:
    if url.host not in ALLOWED_HOSTS:
        # pytest.fail raises a BaseException, so SDK retry loops cannot swallow it.
        pytest.fail(f"backend tests may only talk to 127.0.0.1, not {url.host!r} ({url})")


def _guard(monkeypatch: pytest.MonkeyPatch, sync_cls: Any, async_cls: Any) -> None:
    original_sync = sync_cls.handle_request
    original_async = async_cls.handle_async_request

    def guarded_sync(self: Any, request: Any) -> Any:
        _refuse_remote(request.url)
        return original_sync(self, request)

    async def guarded_async(self: Any, request: Any) -> Any:
        _refuse_remote(request.url)
        return await original_async(self, request)

    monkeypatch.setattr(sync_cls, "handle_request", guarded_sync)
    monkeypatch.setattr(async_cls, "handle_async_request", guarded_async)


@pytest.fixture(autouse=True)
def only_local_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any request to a host other than 127.0.0.1, and hide real credentials.

    Both transports are guarded: the SDKs use ``httpx2``, other code ``httpx``.
    """
    for name in _PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    _guard(monkeypatch, httpx.HTTPTransport, httpx.AsyncHTTPTransport)
    _guard(monkeypatch, httpx2.HTTPTransport, httpx2.AsyncHTTPTransport)


@pytest.fixture
def fake_server() -> Iterator[FakeLLMServer]:
    """A fresh scripted server per test; ``fake_server.enqueue(...)`` scripts it."""
    with FakeLLMServer() as server:
        yield server


async def collect(stream: AsyncIterator[BackendEvent]) -> list[BackendEvent]:
    """Every event of one streamed turn."""
    return [event async for event in stream]


@pytest.fixture
def collect_events() -> Callable[[AsyncIterator[BackendEvent]], Awaitable[list[BackendEvent]]]:
    """``await collect_events(backend.stream(request))`` gives the turn's events as a list."""
    return collect
