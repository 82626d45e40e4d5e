"""Insights: one cheap call after a run; its answer is parsed leniently and kept as facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos.backends.base import BackendRequest
from llmos.backends.scripted import FunctionBackend, ScriptedBackend
from llmos.engine.insights import (
    INSIGHT_SYSTEM,
    MAX_TOKENS,
    extract_insights,
    insights_enabled,
    parse_insights,
)
from llmos.errors import ScriptExhausted
from llmos.memory import Postcondition, Step, Trace
from llmos.memory.facts import FactStore
from llmos.messages import UserMessage

RUN = Trace(
    goal="Run the test suite",
    steps=(
        Step(
            tool="Bash",
            input={"command": "python -m pytest"},
            postcondition=Postcondition(is_error=True, exit_code=4),
            output="ERROR: file or directory not found: tests/\nmore",
        ),
        Step(
            tool="Bash",
            input={"command": "python -m pytest src/tests -q"},
            postcondition=Postcondition(exit_code=0),
            output="12 passed",
        ),
    ),
    final_answer="12 tests pass.",
)


@pytest.fixture
def facts(tmp_path: Path) -> FactStore:
    return FactStore.for_memory(tmp_path / "memory")


def answering(text: str) -> FunctionBackend:
    return FunctionBackend(lambda request: {"text": text}, model="cheap-model")


async def test_one_call_stores_up_to_three_insights_with_their_origin(facts: FactStore) -> None:
    backend = answering(
        '{"insight": "The tests live in src/tests, not tests/", "tags": ["pytest"]}\n'
        '{"insight": "Run pytest with -q to keep the output short", "tags": []}\n'
        '{"insight": "python -m pytest is the way to call the test runner"}\n'
        '{"insight": "A fourth insight is one too many for one run"}\n'
    )
    outcome = await extract_insights(backend, facts, RUN, task_id="t-9")

    [request] = backend.requests
    assert (request.system, request.tools, request.max_tokens) == (INSIGHT_SYSTEM, (), MAX_TOKENS)
    [message] = request.messages
    assert isinstance(message, UserMessage)
    assert message.content.splitlines()[:4] == [
        "Goal: Run the test suite",
        "Outcome: success",
        '1. Bash {"command": "python -m pytest"} -> error, exit 4: '
        "ERROR: file or directory not found: tests/",
        '2. Bash {"command": "python -m pytest src/tests -q"} -> ok, exit 0: 12 passed',
    ]
    assert [f.text for f in outcome.facts] == [
        "The tests live in src/tests, not tests/",
        "Run pytest with -q to keep the output short",
        "python -m pytest is the way to call the test runner",
    ]
    assert all(
        (f.source, f.task_id, f.trace_id) == ("insight", "t-9", RUN.id) for f in outcome.facts
    )
    assert outcome.facts[0].tags == ("pytest",)
    assert outcome.model == "cheap-model" and outcome.usage.output_tokens > 0
    assert [f.id for f in facts.list()] == [f.id for f in outcome.facts]
    assert facts.search("where do the tests live")[0].fact.id == outcome.facts[0].id


async def test_a_known_insight_is_not_stored_twice(facts: FactStore) -> None:
    facts.add("The tests live in src/tests, not tests/")
    outcome = await extract_insights(
        answering('{"insight": "the tests live in src/tests, not tests/"}'), facts, RUN
    )
    assert outcome.facts == () and len(facts.list()) == 1


async def test_nothing_worth_keeping_stores_nothing(facts: FactStore) -> None:
    outcome = await extract_insights(answering(""), facts, RUN)
    assert outcome.facts == () and facts.list() == []


async def test_a_backend_failure_is_raised_and_stores_nothing(facts: FactStore) -> None:
    with pytest.raises(ScriptExhausted):
        await extract_insights(ScriptedBackend([]), facts, RUN)
    assert facts.list() == []


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        (
            '```json\n{"insight": "Use uv to install packages here"}\n```',
            ["Use uv to install packages here"],
        ),
        (
            '[{"text": "Use uv to install packages here"}, "Builds need make first"]',
            ["Use uv to install packages here", "Builds need make first"],
        ),
        (
            "Here are the insights:\n- Use uv to install packages here\n2. Builds need make first",
            ["Use uv to install packages here", "Builds need make first"],
        ),
        (
            '- {"insight": "Use uv to install packages here"},\n{"insight": broken',
            ["Use uv to install packages here"],
        ),
        ("I found nothing worth remembering in this run.", []),
        ('{"insight": "short"}\n{"insight": 42}\n{"tags": ["x"]}', []),
        ('{"insight": "' + "x" * 400 + '"}', []),
    ],
)
def test_replies_are_parsed_leniently_but_prose_is_not_an_insight(
    reply: str, kept: list[str]
) -> None:
    candidates, rejected = parse_insights(reply)
    assert [c.text for c in candidates] == kept
    assert rejected or kept  # whatever is not kept is reported


def test_insights_are_off_by_default_for_local_and_test_backends() -> None:
    assert insights_enabled("anthropic") and insights_enabled("openai")
    assert not insights_enabled("local") and not insights_enabled("scripted")
    assert insights_enabled("local", True) and not insights_enabled("anthropic", False)


async def test_a_failed_run_is_described_with_its_error(facts: FactStore) -> None:
    seen: list[BackendRequest] = []

    def reply(request: BackendRequest) -> dict[str, str]:
        seen.append(request)
        return {"text": ""}

    failed = Trace(goal="Deploy", status="failed", extra={"error": "no credentials"})
    await extract_insights(FunctionBackend(reply), facts, failed)
    content = seen[0].messages[0].content
    assert "Outcome: failed\nError: no credentials" in content
