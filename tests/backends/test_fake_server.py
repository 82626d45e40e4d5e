"""The fake LLM server speaks both wire formats, plays its script in order, and records."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import httpx2
import pytest
from anthropic import AsyncAnthropic

from llmos.testing.fake_llm_server import (
    FakeLLMServer,
    FakeUsage,
    Fault,
    ToolUse,
    Turn,
    iter_sse_data,
    load_script,
)

ANTHROPIC_BODY = {"model": "claude-test", "max_tokens": 10, "messages": [], "stream": True}
OPENAI_BODY = {
    "model": "gpt-test",
    "messages": [],
    "stream": True,
    "stream_options": {"include_usage": True},
}


def _post(server: FakeLLMServer, path: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, headers={"x-test": "yes"}, timeout=5)


def test_anthropic_stream_has_every_event_in_order(fake_server: FakeLLMServer) -> None:
    turn = Turn(
        text="hello world",
        tool_calls=[ToolUse(name="Write", input={"file_path": "a.txt"}, id="toolu_1")],
        usage=FakeUsage(input_tokens=3, output_tokens=4, cache_read=5, cache_write=6),
        chunk_size=4,
    )
    fake_server.enqueue(turn)
    response = _post(fake_server, "/v1/messages", ANTHROPIC_BODY)
    events = [json.loads(data) for data in iter_sse_data(response.content)]
    types = [event["type"] for event in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert events[0]["message"]["usage"]["cache_read_input_tokens"] == 5
    assert events[0]["message"]["usage"]["cache_creation_input_tokens"] == 6
    text = "".join(
        e["delta"]["text"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
    )
    arguments = "".join(
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    )
    assert text == "hello world"
    assert json.loads(arguments) == {"file_path": "a.txt"}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2]["usage"]["output_tokens"] == 4
    assert response.headers["transfer-encoding"] == "chunked"


def test_openai_stream_splits_tool_arguments_and_ends_with_usage_and_done(
    fake_server: FakeLLMServer,
) -> None:
    fake_server.enqueue(
        Turn(
            tool_calls=[ToolUse(name="Read", input={"file_path": "x.py"})],
            chunk_size=3,
            usage=FakeUsage(input_tokens=10, output_tokens=2, cache_read=90),
        )
    )
    response = _post(fake_server, "/v1/chat/completions", OPENAI_BODY)
    payloads = list(iter_sse_data(response.content))
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    argument_parts = [
        d["tool_calls"][0]["function"]["arguments"] for d in deltas if "tool_calls" in d
    ]
    assert len(argument_parts) > 3
    assert json.loads("".join(argument_parts)) == {"file_path": "x.py"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 100
    assert chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 90


def test_non_streaming_answers_in_each_format(fake_server: FakeLLMServer) -> None:
    fake_server.enqueue(Turn(text="one"), Turn(text="two", stop_reason="max_tokens"))
    anthropic = _post(fake_server, "/v1/messages", ANTHROPIC_BODY | {"stream": False}).json()
    openai = _post(fake_server, "/v1/chat/completions", {"model": "m", "messages": []}).json()
    assert anthropic["content"] == [{"type": "text", "text": "one"}]
    assert anthropic["model"] == "claude-test"
    assert openai["choices"][0]["message"]["content"] == "two"
    assert openai["choices"][0]["finish_reason"] == "length"


def test_error_faults_use_each_apis_error_shape(fake_server: FakeLLMServer) -> None:
    fake_server.enqueue(Fault.rate_limited(retry_after=2), Fault.unknown_model("nope"))
    limited = _post(fake_server, "/v1/messages", ANTHROPIC_BODY)
    unknown = _post(fake_server, "/v1/chat/completions", OPENAI_BODY | {"model": "nope"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    assert "`nope` does not exist" in unknown.json()["error"]["message"]


def test_exhausted_script_is_a_clear_500_that_must_not_be_retried(
    fake_server: FakeLLMServer,
) -> None:
    response = _post(fake_server, "/v1/messages", ANTHROPIC_BODY)
    assert response.status_code == 500
    assert response.headers["x-should-retry"] == "false"
    assert "script is exhausted after 0 response(s)" in response.json()["error"]["message"]


def test_fallback_answers_once_the_queue_is_empty() -> None:
    with FakeLLMServer(fallback=Turn(text="fallback")) as server:
        body = ANTHROPIC_BODY | {"stream": False}
        answer = _post(server, "/v1/messages", body).json()
    assert answer["content"][0]["text"] == "fallback"


def test_cut_stream_closes_the_connection_mid_body(fake_server: FakeLLMServer) -> None:
    fake_server.enqueue(Fault.cut(Turn(text="a long answer", chunk_size=2), after=3))
    with pytest.raises(httpx.RemoteProtocolError):
        _post(fake_server, "/v1/messages", ANTHROPIC_BODY)


def test_stall_sends_the_first_events_then_goes_silent(fake_server: FakeLLMServer) -> None:
    fake_server.enqueue(Fault.stall(Turn(text="late"), after=1))
    with httpx.stream(
        "POST", f"{fake_server.url}/v1/messages", json=ANTHROPIC_BODY, timeout=0.3
    ) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("event: message_start")
        with pytest.raises(httpx.ReadTimeout):
            list(lines)


def test_released_stall_finishes_its_turn(fake_server: FakeLLMServer) -> None:
    fake_server.enqueue(Fault.stall(Turn(text="late")))
    threading.Timer(0.05, fake_server.release).start()
    answer = _post(fake_server, "/v1/messages", ANTHROPIC_BODY | {"stream": False}).json()
    assert answer["content"][0]["text"] == "late"


def test_every_request_is_recorded_with_headers_and_body(fake_server: FakeLLMServer) -> None:
    fake_server.enqueue(Turn(text="x"))
    _post(fake_server, "/v1/messages", ANTHROPIC_BODY)
    count = _post(fake_server, "/v1/messages/count_tokens", {"model": "m", "messages": []})
    models = httpx.get(f"{fake_server.openai_url}/models", timeout=5).json()
    assert count.json()["input_tokens"] > 0
    assert models["data"][0]["id"] == "fake-model"
    first = fake_server.requests[0]
    assert (first.method, first.path, first.api) == ("POST", "/v1/messages", "anthropic")
    assert first.headers["x-test"] == "yes"
    assert first.body == ANTHROPIC_BODY
    assert [r.path for r in fake_server.model_requests()] == ["/v1/messages"]
    assert fake_server.pending == 0


def test_load_script_reads_turns_and_faults() -> None:
    items = load_script(
        json.dumps(
            [
                {
                    "text": "hi",
                    "tool_calls": [{"name": "Bash", "input": {"command": "ls"}}],
                    "usage": {"input_tokens": 1, "output_tokens": 2},
                },
                {"fault": "status", "status": 429, "headers": {"retry-after": "0"}},
                {"fault": "cut", "after": 2, "turn": {"text": "cut"}},
                {"fault": "stall", "seconds": 1},
                {"fault": "stream_error", "after": 1, "turn": {"text": "x"}},
            ]
        )
    )
    assert items[0] == Turn(
        text="hi",
        tool_calls=(ToolUse(name="Bash", input={"command": "ls"}),),
        usage=FakeUsage(input_tokens=1, output_tokens=2),
    )
    assert isinstance(items[1], Fault) and items[1].status == 429
    assert isinstance(items[2], Fault) and items[2].kind == "cut" and items[2].after == 2
    assert isinstance(items[3], Fault) and items[3].stall_seconds == 1
    assert isinstance(items[4], Fault) and (items[4].kind, items[4].status) == ("stream_error", 529)
    with pytest.raises(ValueError, match="'fault' must be status, cut, stream_error or stall"):
        load_script('[{"fault": "explode"}]')


def test_script_mode_prints_its_url_and_serves(tmp_path: Path) -> None:
    script = tmp_path / "turns.json"
    script.write_text(
        json.dumps({"items": [{"text": "from a subprocess"}], "fallback": {"text": "fallback"}})
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "llmos.testing.fake_llm_server", "--script", str(script)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.post(
            f"{url}/v1/messages", json=ANTHROPIC_BODY | {"stream": False}, timeout=5
        ).json()
        assert answer["content"][0]["text"] == "from a subprocess"
        again = httpx.post(
            f"{url}/v1/messages", json=ANTHROPIC_BODY | {"stream": False}, timeout=5
        ).json()
        assert again["content"][0]["text"] == "fallback"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_backend_tests_refuse_any_host_but_127_0_0_1() -> None:
    """The conftest guard stops a request to a real host before it is sent."""
    with pytest.raises(pytest.fail.Exception, match=r"may only talk to 127\.0\.0\.1"):
        httpx.get("http://api.anthropic.com/v1/models", timeout=1)
    with pytest.raises(pytest.fail.Exception, match=r"not 'api\.openai\.com'"):
        httpx2.get("https://api.openai.com/v1/models", timeout=1)


async def test_sdk_requests_to_a_real_host_are_refused() -> None:
    client = AsyncAnthropic(api_key="k", base_url="https://api.anthropic.com", max_retries=0)
    try:
        with pytest.raises(pytest.fail.Exception, match=r"not 'api\.anthropic\.com'"):
            await client.models.list()
    finally:
        await client.close()


async def test_the_model_list_is_in_each_sdks_own_wire_format() -> None:
    """``GET /v1/models`` as Anthropic's SDK and OpenAI's SDK each parse it."""
    from openai import AsyncOpenAI

    with FakeLLMServer(models=("model-a", "model-b")) as server:
        anthropic = AsyncAnthropic(api_key="k", base_url=server.url, max_retries=0)
        openai = AsyncOpenAI(api_key="k", base_url=server.openai_url, max_retries=0)
        try:
            claude_page = await anthropic.models.list()
            openai_page = await openai.models.list()
        finally:
            await anthropic.close()
            await openai.close()
    assert [m.id for m in claude_page.data] == ["model-a", "model-b"]
    assert [m.type for m in claude_page.data] == ["model", "model"]
    assert claude_page.has_more is False and claude_page.last_id == "model-b"
    assert [m.id for m in openai_page.data] == ["model-a", "model-b"]
    assert openai_page.data[0].object == "model"
