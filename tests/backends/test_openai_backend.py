"""The openai backend, through the real ``openai`` SDK, against the fake server over HTTP.

Also the helpers it leans on most: tool-call assembly and JSON repair.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from llmos.backends._http_errors import parse_retry_after
from llmos.backends._tool_calls import (
    INVALID_JSON_KEY,
    ToolCallAssembler,
    invalid_arguments_message,
    parse_arguments,
)
from llmos.backends.base import BackendEvent, BackendRequest, TextDelta, ToolCallReady, TurnFinished
from llmos.backends.openai import (
    OpenAIBackend,
    context_window_for,
    normalise_base_url,
    openai_params,
)
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

READ = ToolSpec(
    name="Read",
    description="Read a file.",
    input_schema={"type": "object", "properties": {"file_path": {"type": "string"}}},
)
REQUEST = BackendRequest(system="You are terse.", messages=[UserMessage(content="hi")])


@pytest.fixture
async def backend(fake_server: FakeLLMServer) -> AsyncIterator[OpenAIBackend]:
    backend = OpenAIBackend("qwen2.5:7b", base_url=fake_server.openai_url, timeout=5, max_retries=2)
    yield backend
    await backend.aclose()


def _calls(events: list[BackendEvent]) -> list[ToolCall]:
    return [e.call for e in events if isinstance(e, ToolCallReady)]


async def test_text_streams_as_deltas_then_one_turn_finished(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Turn(text="one two three four", chunk_size=4))
    events = await collect_events(backend.stream(REQUEST))
    assert [e.text for e in events if isinstance(e, TextDelta)] == [
        "one ",
        "two ",
        "thre",
        "e fo",
        "ur",
    ]
    assert events[-1] == TurnFinished(
        usage=Usage(input_tokens=10, output_tokens=5), model="qwen2.5:7b", stop_reason="end_turn"
    )


async def test_tool_arguments_split_over_many_chunks_are_assembled_per_index(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    first = {"file_path": "src/main.py", "limit": 20}
    second = {"command": "echo 'a \"quoted\" word' && ls -la"}
    fake_server.enqueue(
        Turn(
            text="Looking.",
            tool_calls=[
                ToolUse(name="Read", input=first, id="call_a"),
                ToolUse(name="Bash", input=second, id="call_b"),
            ],
            chunk_size=1,
        )
    )
    events = await collect_events(backend.stream(REQUEST))
    assert _calls(events) == [
        ToolCall(id="call_a", name="Read", input=first),
        ToolCall(id="call_b", name="Bash", input=second),
    ]
    assert [e.kind for e in events][-3:] == ["tool-call-ready", "tool-call-ready", "turn-finished"]
    finished = events[-1]
    assert isinstance(finished, TurnFinished) and finished.stop_reason == "tool_use"


async def test_usage_separates_cached_prompt_tokens(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    usage = FakeUsage(input_tokens=40, output_tokens=7, cache_read=1024, cache_write=0)
    fake_server.enqueue(Turn(text="ok", usage=usage))
    events = await collect_events(backend.stream(REQUEST))
    assert events[-1] == TurnFinished(
        usage=Usage(input_tokens=40, output_tokens=7, cache_read_tokens=1024),
        model="qwen2.5:7b",
    )


async def test_a_server_without_usage_reports_an_estimate(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Turn(text="twelve chars", report_usage=False))
    events = await collect_events(backend.stream(REQUEST))
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    assert finished.usage.output_tokens == 3
    assert finished.usage.input_tokens > 0


async def test_an_error_chunk_mid_stream_is_a_backend_error(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.stream_error(Turn(text="abcdef", chunk_size=2), after=3, status=500))
    with pytest.raises(BackendError, match="failed with 500") as info:
        await collect_events(backend.stream(REQUEST))
    assert info.value.status == 500


async def test_a_length_cut_turn_says_max_tokens(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Turn(text="trunc", stop_reason="max_tokens"))
    events = await collect_events(backend.stream(REQUEST))
    finished = events[-1]
    assert isinstance(finished, TurnFinished) and finished.stop_reason == "max_tokens"


async def test_request_maps_the_conversation_and_asks_for_usage(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    conversation = [
        UserMessage(content="read two files"),
        AssistantMessage(
            tool_calls=(
                ToolCall(id="c1", name="Read", input={"file_path": "a"}),
                ToolCall(id="c2", name="Read", input={INVALID_JSON_KEY: '{"file_path": b'}),
            )
        ),
        ToolResultMessage(call_id="c1", tool="Read", content="A"),
        ToolResultMessage(call_id="c2", tool="Read", content="bad arguments", is_error=True),
    ]
    fake_server.enqueue(Turn(text="done"))
    await collect_events(
        backend.stream(
            BackendRequest(system="Sys.", messages=conversation, tools=[READ], max_tokens=99)
        )
    )
    (sent,) = fake_server.model_requests()
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer llmos-no-key"
    assert sent.body == {
        "model": "qwen2.5:7b",
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 99,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "Read",
                    "description": "Read a file.",
                    "parameters": dict(READ.input_schema),
                },
            }
        ],
        "messages": [
            {"role": "system", "content": "Sys."},
            {"role": "user", "content": "read two files"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "Read", "arguments": '{"file_path": "a"}'},
                    },
                    {
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "Read", "arguments": '{"file_path": b'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "A"},
            {"role": "tool", "tool_call_id": "c2", "content": "Error: bad arguments"},
        ],
    }


async def test_key_and_base_url_come_from_the_environment(
    fake_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, collect_events: Collect
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.url)  # without /v1, as users type it
    fake_server.enqueue(Turn(text="ok"))
    backend = OpenAIBackend("llama3.1")
    try:
        await collect_events(backend.stream(REQUEST))
    finally:
        await backend.aclose()
    assert backend.base_url == fake_server.openai_url
    assert fake_server.requests[0].headers["authorization"] == "Bearer sk-env"


def test_openai_itself_gets_max_completion_tokens_and_other_servers_max_tokens() -> None:
    request = BackendRequest(system="", messages=[UserMessage(content="x")], max_tokens=50)
    official = openai_params(request, "o3", base_url="https://api.openai.com/v1")
    local = openai_params(request, "llama3", base_url="http://localhost:8080/v1")
    assert (official.get("max_completion_tokens"), official.get("max_tokens")) == (50, None)
    assert (local.get("max_completion_tokens"), local.get("max_tokens")) == (None, 50)
    assert official["messages"] == [{"role": "user", "content": "x"}]  # no empty system


def test_openai_itself_without_a_key_says_what_to_set() -> None:
    expected = re.escape("needs OPENAI_API_KEY for api.openai.com")
    with pytest.raises(BackendUnavailable, match=expected):
        OpenAIBackend("gpt-4o-mini")


def test_base_url_and_context_window_rules() -> None:
    assert normalise_base_url("http://localhost:11434") == "http://localhost:11434/v1"
    assert normalise_base_url("http://h:8000/v1/") == "http://h:8000/v1"
    assert normalise_base_url("http://h/openai/v1") == "http://h/openai/v1"
    assert context_window_for("gpt-4o-mini") == 128_000
    assert context_window_for("gpt-4.1") == 1_047_576
    assert context_window_for("meta-llama/Llama-3.1-8B-Instruct") == 128_000
    assert context_window_for("some-local-model") == 32_768
    backend = OpenAIBackend("gpt-5", api_key="k", base_url="http://127.0.0.1:9")
    assert (backend.name, backend.context_window) == ("openai", 400_000)


async def test_malformed_tool_json_gets_one_repair(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(
        Turn(
            tool_calls=[
                ToolUse(name="Bash", raw_arguments='{"command": "ls -la"', id="c1"),
                ToolUse(name="Read", raw_arguments='{"file_path": "a.py"}\n</tool_call>', id="c2"),
            ],
            chunk_size=3,
        )
    )
    events = await collect_events(backend.stream(REQUEST))
    assert _calls(events) == [
        ToolCall(id="c1", name="Bash", input={"command": "ls -la"}),
        ToolCall(id="c2", name="Read", input={"file_path": "a.py"}),
    ]


async def test_unrepairable_tool_json_reaches_the_loop_marked_invalid(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    raw = "file_path = a.py"
    fake_server.enqueue(Turn(tool_calls=[ToolUse(name="Read", raw_arguments=raw, id="c1")]))
    (call,) = _calls(await collect_events(backend.stream(REQUEST)))
    assert call.input == {INVALID_JSON_KEY: raw}
    assert invalid_arguments_message(call) == (
        "the arguments of your Read call are not a valid JSON object, so the tool did not run. "
        "You sent: file_path = a.py\n"
        "Call Read again with its arguments as one JSON object that matches its schema."
    )


async def test_429_with_retry_after_zero_is_retried_then_succeeds(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.rate_limited(retry_after=0), Turn(text="ok"))
    events = await collect_events(backend.stream(REQUEST))
    assert isinstance(events[-1], TurnFinished)
    assert len(fake_server.model_requests()) == 2


async def test_repeated_429_ends_in_rate_limited(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(*[Fault.rate_limited(retry_after=0)] * 3)
    with pytest.raises(RateLimited, match=r"\(gave up after 3 attempts\)") as info:
        await collect_events(backend.stream(REQUEST))
    assert info.value.retry_after == 0
    assert len(fake_server.model_requests()) == 3


async def test_a_retry_after_longer_than_a_minute_is_not_waited_for(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.rate_limited(retry_after=3600), Turn(text="never"))
    with pytest.raises(RateLimited, match="the server asks to wait 3600 s") as info:
        await collect_events(backend.stream(REQUEST))
    assert info.value.retry_after == 3600
    assert len(fake_server.model_requests()) == 1


async def test_a_server_error_is_retried(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.server_error(), Turn(text="ok"))
    events = await collect_events(backend.stream(REQUEST))
    assert isinstance(events[-1], TurnFinished)
    assert len(fake_server.model_requests()) == 2


async def test_401_is_an_auth_error_naming_the_variable(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.auth_failed())
    with pytest.raises(AuthError, match=re.escape("set OPENAI_API_KEY to a valid key")):
        await collect_events(backend.stream(REQUEST))


async def test_404_names_the_model_and_how_to_list_models(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(Fault.unknown_model("qwen2.5:7b"))
    expected = (
        f"the model 'qwen2.5:7b' is unknown to the openai server at {fake_server.openai_url} "
        "(404: The model `qwen2.5:7b` does not exist or you do not have access to it.); "
        f"list the models it serves with `curl {fake_server.openai_url}/models`, "
        "then pass one with --model"
    )
    with pytest.raises(BackendError, match=re.escape(expected)) as info:
        await collect_events(backend.stream(REQUEST))
    assert info.value.status == 404


async def test_context_length_exceeded_is_a_context_overflow(
    backend: OpenAIBackend, fake_server: FakeLLMServer, collect_events: Collect
) -> None:
    fake_server.enqueue(
        Fault.http(
            400,
            message="This model's maximum context length is 8192 tokens.",
            openai_code="context_length_exceeded",
        )
    )
    with pytest.raises(ContextOverflow, match="maximum context length is 8192") as info:
        await collect_events(backend.stream(REQUEST))
    assert info.value.status == 400


async def test_a_stream_cut_after_text_raises_without_finishing_the_turn(
    backend: OpenAIBackend, fake_server: FakeLLMServer
) -> None:
    fake_server.enqueue(Fault.cut(Turn(text="partial answer here", chunk_size=3), after=4))
    seen: list[BackendEvent] = []
    with pytest.raises(BackendError, match=r"ended the response .* before it was complete"):
        async for event in backend.stream(REQUEST):
            seen.append(event)
    assert seen and all(isinstance(e, TextDelta) for e in seen)


async def test_a_stalled_stream_times_out(fake_server: FakeLLMServer) -> None:
    fake_server.enqueue(Fault.stall(Turn(text="slow", chunk_size=1), after=2))
    backend = OpenAIBackend("m", base_url=fake_server.url, timeout=0.3)
    seen: list[BackendEvent] = []
    try:
        with pytest.raises(BackendTimeout, match=r"stopped streaming for 0\.3 s"):
            async for event in backend.stream(REQUEST):
                seen.append(event)
    finally:
        await backend.aclose()
    assert not any(isinstance(e, TurnFinished) for e in seen)


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ('{"a": 1}', {"a": 1}),
        ("", {}),
        ("   ", {}),
        ('{"a": "x"', {"a": "x"}),  # cut off after a value
        ('{"a": "unfinished', {"a": "unfinished"}),  # cut inside a string
        ('{"a": {"b": [1, 2', {"a": {"b": [1, 2]}}),  # nested brackets left open
        ('{"a": 1,}', {"a": 1}),  # trailing comma
        ('{"a": [1, 2,], "b": 2}', {"a": [1, 2], "b": 2}),
        ('{"a": 1} and some chatter', {"a": 1}),  # trailing garbage
        ('{"a": 1}}', {"a": 1}),  # an extra closer
        ('```json\n{"a": 1}\n```', {"a": 1}),  # a code fence
        ('Sure! {"a": "b}"}', {"a": "b}"}),  # prose before, brace inside a string
        ('{"a": "x\\', {"a": "x"}),  # cut in the middle of an escape
        ('{"a":', {"a": None}),  # cut after a key
    ],
)
def test_parse_arguments_repairs_common_breakage(raw: str, parsed: dict[str, object]) -> None:
    assert parse_arguments(raw) == parsed


@pytest.mark.parametrize("raw", ["file_path = a.py", "[1, 2]", '"just a string"', "{'a': 1}"])
def test_parse_arguments_gives_up_on_what_is_not_an_object(raw: str) -> None:
    assert parse_arguments(raw) is None


def test_assembler_keeps_first_id_and_name_and_orders_by_index() -> None:
    calls = ToolCallAssembler()
    calls.add(1, call_id="second", name="Bash", arguments='{"command":')
    calls.add(0, call_id="first", name="Read", arguments="{}")
    calls.add(1, call_id="second", name="Bash", arguments=' "ls"}')
    calls.add(2, name="LS")  # a server that sends no id
    first, second, third = calls.finish()
    assert (first.id, first.name, first.input) == ("first", "Read", {})
    assert (second.id, second.name, second.input) == ("second", "Bash", {"command": "ls"})
    assert third.name == "LS" and third.id.startswith("call_2_") and third.input == {}
    assert not calls


def test_a_valid_call_has_no_invalid_arguments_message() -> None:
    assert invalid_arguments_message(ToolCall(id="1", name="Read", input={"a": 1})) is None


def test_parse_retry_after_reads_seconds_milliseconds_and_dates() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    future = email.utils.formatdate(time.time() + 120, usegmt=True)
    waited = parse_retry_after({"retry-after": future})
    assert waited is not None and 100 < waited <= 120


def test_fake_usage_adds_up_on_the_openai_wire() -> None:
    """The fake's OpenAI usage is what the backend's arithmetic undoes."""
    from llmos.testing.fake_llm_script import Ids, openai_completion

    body = openai_completion(
        Turn(usage=FakeUsage(input_tokens=1, cache_read=2, cache_write=3)), "m", Ids()
    )
    assert json.loads(json.dumps(body["usage"]))["prompt_tokens"] == 6
