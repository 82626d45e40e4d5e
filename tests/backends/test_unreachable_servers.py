"""A model server that is down, full or stuck fails a call in seconds and says what to check.

Real sockets on 127.0.0.1, through the real SDKs: a port nothing listens on
(connection refused), a listener whose queue is full (the connection is never
taken: the connect time-out), and one that takes the connection and never
answers (the read time-out). Before, a refused connection took the whole
backoff and a black-holed one the whole 600 s time-out.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llmos.backends._http_errors import Endpoint, connection_error
from llmos.backends.anthropic import AnthropicBackend
from llmos.backends.base import Backend, BackendRequest
from llmos.backends.openai import OllamaBackend, OpenAIBackend
from llmos.errors import BackendError, BackendTimeout
from llmos.messages import UserMessage

REQUEST = BackendRequest(system="You are terse.", messages=[UserMessage(content="hi")])

Build = Callable[..., Backend]


def _anthropic(url: str, **options: Any) -> Backend:
    return AnthropicBackend("claude-sonnet-4-5", api_key="k", base_url=url, **options)


def _openai(url: str, **options: Any) -> Backend:
    return OpenAIBackend("qwen2.5:7b", base_url=f"{url}/v1", **options)


def _ollama(url: str, **options: Any) -> Backend:
    return OllamaBackend("qwen2.5:7b", base_url=f"{url}/v1", **options)


BACKENDS = pytest.mark.parametrize(
    ("build", "name"),
    [(_anthropic, "anthropic"), (_openai, "openai"), (_ollama, "ollama")],
    ids=["anthropic", "openai", "ollama"],
)


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Listener:
    """A TCP listener on 127.0.0.1 that never answers; ``accept`` says whether it takes
    connections (and holds them) or leaves them queued, with room for none."""

    def __init__(self, *, accept: bool) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(0)
        self.accepted: list[socket.socket] = []
        self.queued: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        if accept:
            self._thread = threading.Thread(target=self._accept, daemon=True)
            self._thread.start()
        else:  # one connection fills a queue of 0; the next SYN is dropped
            filler = socket.create_connection(self.socket.getsockname())
            self.queued.append(filler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        for conn in [*self.accepted, *self.queued]:
            conn.close()
        self.socket.close()


@pytest.fixture
def listener_factory() -> Iterator[Callable[..., _Listener]]:
    made: list[_Listener] = []

    def make(*, accept: bool) -> _Listener:
        made.append(_Listener(accept=accept))
        return made[-1]

    yield make
    for listener in made:
        listener.close()


async def _fail(backend: Backend) -> tuple[BackendError, float]:
    started = time.monotonic()
    try:
        with pytest.raises(BackendError) as caught:
            async for _ in backend.stream(REQUEST):
                pass
    finally:
        await backend.aclose()
    return caught.value, time.monotonic() - started


@BACKENDS
async def test_a_refused_connection_fails_in_seconds_with_the_url(build: Build, name: str) -> None:
    url = f"http://127.0.0.1:{_unused_port()}"
    error, took = await _fail(build(url))
    assert re.search(f"cannot reach the {name} server at {re.escape(url)}", str(error))
    assert "check that the server is running on this machine" in str(error)
    assert "gave up after 3 attempts" in str(error)  # a blip is retried, a dead server not long
    assert took < 10  # two short backoffs, not four growing ones


def test_what_to_check_depends_on_where_the_server_is() -> None:
    def check(url: str) -> str:
        where = Endpoint(backend="x", model="m", base_url=url, key_env="K", list_models_hint="")
        return str(connection_error(where, "refused"))

    assert "start it with `ollama serve`" in check("http://localhost:11434/v1")
    remote = check("https://api.anthropic.com")
    assert "check the network connection" in remote and "--provider local" in remote


@BACKENDS
async def test_a_server_that_never_takes_the_connection_fails_at_connect_timeout(
    build: Build, name: str, listener_factory: Callable[..., _Listener]
) -> None:
    full = listener_factory(accept=False)
    error, took = await _fail(build(full.url, connect_timeout=1, timeout=600))
    assert f"cannot reach the {name} server at {full.url}" in str(error)
    assert "no connection within 1 s" in str(error)
    assert took < 30  # one connect time-out, not the 600 s read time-out nor retries of it


@BACKENDS
async def test_a_server_that_takes_the_connection_and_hangs_times_out_once(
    build: Build, name: str, listener_factory: Callable[..., _Listener]
) -> None:
    stuck = listener_factory(accept=True)
    error, took = await _fail(build(stuck.url, timeout=1))
    assert isinstance(error, BackendTimeout)
    assert f"the {name} server at {stuck.url}" in str(error)
    assert "did not answer for 1 s" in str(error)
    assert "check that the server is up" in str(error)
    assert len(stuck.accepted) == 1  # a time-out is not retried
    assert took < 30
