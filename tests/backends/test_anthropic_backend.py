"""The anthropic backend, through the real ``anthropic`` SDK, against the fake server over HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from llmos.backends.anthropic import AnthropicBackend, anthropic_messages
from llmos.backends.base import BackendEvent, BackendRequest, TextDelta, ToolCallReady, TurnFinished
from llmos.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ContextOverflow,
    RateLimited,
)
from llmos.messages import AssistantMessage, ToolCall, ToolResultMessage, Usage, UserMessage
from llmos.testing.fake_llm_server import FakeLLMServer, FakeUsage, Fault, ToolUse, Turn
from llmos.tools.base import ToolSpec

Collect = Callable[[AsyncIterator[BackendEvent]], Awaitable[list[BackendEvent]]]

WRITE = ToolSpec(
    name="Write",
    description="Write a file.",
    input_schema={"type": "object", "properties": {"file_path": {"type": "string"}}},
)
BASH = ToolSpec(
    name="Bash",
    description="Run a command.",
    input_schema={"type": "object", "properties": {"command": {"type": "string"}}},
)
REQUEST = BackendRequest(system="You are terse.", messages=[UserMessage(content="hi")])


@pytest.fixture
async def backend(fake_server: FakeLLMServer) -> AsyncIterator[AnthropicBackend]:
    backend = AnthropicBackend(
        "claude-sonnet-4-6",
        api_key="sk-test",
        base_url=fake_server.url,
        timeout=5,
        max_retries=2,
    )
    yield backend
    await backend.aclose()


async def test_text_streams_as_deltas_then_one_turn_finished(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Turn(text="Hello, world. How are you?", chunk_size=5))
    events = await collect_events(backend.stream(REQUEST))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) == 6
    assert "".join(d.text for d in deltas) == "Hello, world. How are you?"
    assert events[-1] == TurnFinished(
        usage=Usage(input_tokens=10, output_tokens=5),
        model="claude-sonnet-4-6",
        stop_reason="end_turn",
    )
    assert [e for e in events if isinstance(e, TurnFinished)] == [events[-1]]


async def test_several_tool_calls_arrive_whole_after_the_text(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(
        Turn(
            text="Writing now.",
            tool_calls=[
                ToolUse(
                    name="Write", input={"file_path": "a.txt", "content": "one\ntwo"}, id="tu_1"
                ),
                ToolUse(name="Bash", input={"command": "cat a.txt"}, id="tu_2"),
            ],
            chunk_size=3,
        )
    )
    events = await collect_events(backend.stream(REQUEST))
    kinds = [e.kind for e in events]
    assert kinds == ["text-delta"] * 4 + ["tool-call-ready"] * 2 + ["turn-finished"]
    calls = [e.call for e in events if isinstance(e, ToolCallReady)]
    assert calls == [
        ToolCall(id="tu_1", name="Write", input={"file_path": "a.txt", "content": "one\ntwo"}),
        ToolCall(id="tu_2", name="Bash", input={"command": "cat a.txt"}),
    ]
    finished = events[-1]
    assert isinstance(finished, TurnFinished) and finished.stop_reason == "tool_use"


async def test_a_tool_without_arguments_gets_an_empty_input(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Turn(tool_calls=[ToolUse(name="LS", raw_arguments="", id="tu_9")]))
    events = await collect_events(backend.stream(REQUEST))
    assert events[0] == ToolCallReady(call=ToolCall(id="tu_9", name="LS", input={}))


async def test_usage_counts_cache_reads_and_writes_apart(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    usage = FakeUsage(input_tokens=12, output_tokens=34, cache_read=1500, cache_write=300)
    fake_server.enqueue(Turn(text="ok", usage=usage))
    events = await collect_events(backend.stream(REQUEST))
    assert events[-1] == TurnFinished(
        usage=Usage(
            input_tokens=12, output_tokens=34, cache_read_tokens=1500, cache_write_tokens=300
        ),
        model="claude-sonnet-4-6",
    )


async def test_request_caches_system_and_tools_and_groups_tool_results(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    conversation = [
        UserMessage(content="make a.txt"),
        AssistantMessage(
            text="Sure.",
            tool_calls=(
                ToolCall(id="tu_1", name="Write", input={"file_path": "a.txt"}),
                ToolCall(id="tu_2", name="Bash", input={"command": "false"}),
            ),
        ),
        ToolResultMessage(call_id="tu_1", tool="Write", content="wrote a.txt"),
        ToolResultMessage(call_id="tu_2", tool="Bash", content="exit 1", is_error=True),
        UserMessage(content="and then stop"),
    ]
    fake_server.enqueue(Turn(text="done"))
    request = BackendRequest(
        system="Be brief.", messages=conversation, tools=[WRITE, BASH], max_tokens=321
    )
    await collect_events(backend.stream(request))
    (sent,) = fake_server.model_requests()
    cache = {"type": "ephemeral"}
    assert sent.path == "/v1/messages"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert "anthropic-version" in sent.headers
    assert sent.body == {
        "model": "claude-sonnet-4-6",
        "max_tokens": 321,
        "stream": True,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": cache}],
        "tools": [
            {
                "name": "Write",
                "description": "Write a file.",
                "input_schema": dict(WRITE.input_schema),
            },
            {
                "name": "Bash",
                "description": "Run a command.",
                "input_schema": dict(BASH.input_schema),
                "cache_control": cache,
            },
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "make a.txt"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Sure."},
                    {
                        "type": "tool_use",
                        "id": "tu_1",
                        "name": "Write",
                        "input": {"file_path": "a.txt"},
                    },
                    {
                        "type": "tool_use",
                        "id": "tu_2",
                        "name": "Bash",
                        "input": {"command": "false"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_1",
                        "content": "wrote a.txt",
                        "is_error": False,
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_2",
                        "content": "exit 1",
                        "is_error": True,
                    },
                    {"type": "text", "text": "and then stop", "cache_control": cache},
                ],
            },
        ],
    }


def test_empty_messages_are_left_out_of_the_conversation() -> None:
    messages = anthropic_messages([UserMessage(content="go"), AssistantMessage(text="")])
    assert messages == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "go", "cache_control": {"type": "ephemeral"}}],
        }
    ]


async def test_key_and_base_url_come_from_the_environment(
    fake_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, collect_events: Collect
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_server.url)
    fake_server.enqueue(Turn(text="ok"))
    backend = AnthropicBackend("claude-haiku-4-5")
    try:
        await collect_events(backend.stream(REQUEST))
    finally:
        await backend.aclose()
    assert backend.base_url == fake_server.url
    assert fake_server.requests[0].headers["authorization"] == "Bearer sk-from-env"


async def test_an_auth_token_is_used_when_there_is_no_key(
    fake_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, collect_events: Collect
) -> None:
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "oauth-token")
    fake_server.enqueue(Turn(text="ok"))
    backend = AnthropicBackend("claude-x", base_url=fake_server.url)
    try:
        await collect_events(backend.stream(REQUEST))
    finally:
        await backend.aclose()
    assert fake_server.requests[0].headers["authorization"] == "Bearer oauth-token"


async def test_a_local_server_needs_no_key(
    fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Turn(text="ok"))
    backend = AnthropicBackend("claude-x", base_url=fake_server.url)
    try:
        events = await collect_events(backend.stream(REQUEST))
    finally:
        await backend.aclose()
    assert isinstance(events[-1], TurnFinished)
    assert fake_server.requests[0].headers["authorization"] == "Bearer llmos-local-no-key"


def test_a_remote_server_without_a_key_says_which_variable_to_set() -> None:
    with pytest.raises(BackendUnavailable, match="set ANTHROPIC_API_KEY"):
        AnthropicBackend("claude-sonnet-4-6")


def test_name_and_context_window() -> None:
    backend = AnthropicBackend("claude-opus-4-1", api_key="k", base_url="http://127.0.0.1:9")
    assert (backend.name, backend.context_window) == ("anthropic", 200_000)


async def test_429_with_retry_after_zero_is_retried_then_succeeds(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.rate_limited(retry_after=0), Turn(text="after the wait"))
    events = await collect_events(backend.stream(REQUEST))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "after the wait"
    retries = [r.headers.get("x-stainless-retry-count") for r in fake_server.model_requests()]
    assert len(retries) == 2


async def test_repeated_429_ends_in_rate_limited(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(*[Fault.rate_limited(retry_after=0)] * 3, Turn(text="never"))
    with pytest.raises(RateLimited, match=r"rate-limiting .* \(gave up after 3 attempts\)") as info:
        await collect_events(backend.stream(REQUEST))
    assert info.value.retry_after == 0
    assert info.value.status == 429
    assert len(fake_server.model_requests()) == 3
    assert fake_server.pending == 1


async def test_a_server_error_is_retried(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.server_error(529), Turn(text="recovered"))
    events = await collect_events(backend.stream(REQUEST))
    assert isinstance(events[-1], TurnFinished)
    assert len(fake_server.model_requests()) == 2


async def test_an_exhausted_script_is_not_retried(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    with pytest.raises(BackendError, match="script is exhausted") as info:
        await collect_events(backend.stream(REQUEST))
    assert info.value.status == 500
    assert len(fake_server.model_requests()) == 1


async def test_401_is_an_auth_error_naming_the_variable(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.auth_failed())
    expected = (
        f"the anthropic server at {fake_server.url} refused the API key "
        "(401: invalid API key); set ANTHROPIC_API_KEY to a valid key"
    )
    with pytest.raises(AuthError, match=re.escape(expected)):
        await collect_events(backend.stream(REQUEST))
    assert len(fake_server.model_requests()) == 1


async def test_404_names_the_unknown_model(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.unknown_model("claude-sonnet-4-6"))
    with pytest.raises(BackendError, match="the model 'claude-sonnet-4-6' is unknown") as info:
        await collect_events(backend.stream(REQUEST))
    assert info.value.status == 404
    assert "pass one with --model" in str(info.value)


async def test_prompt_too_long_is_a_context_overflow(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.context_overflow(prompt_tokens=201_000))
    with pytest.raises(ContextOverflow, match="the conversation is too long for model"):
        await collect_events(backend.stream(REQUEST))


async def test_a_stream_cut_after_text_raises_without_finishing_the_turn(
    backend: AnthropicBackend, fake_server: FakeLLMServer
) -> None:
    fake_server.enqueue(Fault.cut(Turn(text="a long answer that breaks", chunk_size=4), after=4))
    seen: list[BackendEvent] = []
    with pytest.raises(BackendError, match="before it was complete") as info:
        async for event in backend.stream(REQUEST):
            seen.append(event)
    assert type(info.value) is BackendError
    assert seen and all(isinstance(e, TextDelta) for e in seen)
    assert len(fake_server.model_requests()) == 1


async def test_a_stream_cut_before_any_output_is_retried(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.cut(Turn(text="lost"), after=1), Turn(text="second try"))
    events = await collect_events(backend.stream(REQUEST))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "second try"


async def test_an_overloaded_error_event_before_any_output_is_retried(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.stream_error(Turn(text="x"), after=1), Turn(text="retried"))
    events = await collect_events(backend.stream(REQUEST))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "retried"
    assert len(fake_server.model_requests()) == 2


async def test_an_error_event_after_output_ends_the_turn_with_its_status(
    backend: AnthropicBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.stream_error(Turn(text="some text", chunk_size=2), after=4))
    with pytest.raises(BackendError, match=r"failed with 529: Overloaded") as info:
        await collect_events(backend.stream(REQUEST))
    assert info.value.status == 529
    assert len(fake_server.model_requests()) == 1


async def test_a_stalled_stream_times_out(fake_server: FakeLLMServer) -> None:
    fake_server.enqueue(Fault.stall(Turn(text="slow answer", chunk_size=2), after=3))
    backend = AnthropicBackend("claude-x", base_url=fake_server.url, timeout=0.3)
    seen: list[BackendEvent] = []
    try:
        with pytest.raises(BackendTimeout, match=r"stopped streaming for 0\.3 s"):
            async for event in backend.stream(REQUEST):
                seen.append(event)
    finally:
        await backend.aclose()
    assert not any(isinstance(e, TurnFinished) for e in seen)


async def test_a_server_that_never_answers_times_out(fake_server: FakeLLMServer) -> None:
    fake_server.enqueue(Fault.stall())
    backend = AnthropicBackend("claude-x", base_url=fake_server.url, timeout=0.3)
    try:
        with pytest.raises(BackendTimeout, match=r"did not answer for 0\.3 s .* raise the timeout"):
            await anext(aiter(backend.stream(REQUEST)))
    finally:
        await backend.aclose()
    assert len(fake_server.model_requests()) == 1
