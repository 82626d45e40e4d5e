"""The budget counts an Anthropic prompt with ``POST /v1/messages/count_tokens`` (issue 15).

Through the real SDK against the fake server on 127.0.0.1: the count is the
server's, sent in the real wire format; a count that fails (5xx) or hangs
falls back to the byte bound without failing the call, and a call is counted
once, however often the model request itself is retried.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from llmos.backends.anthropic import AnthropicBackend
from llmos.backends.base import BackendRequest, request_token_bound
from llmos.economy import TokenEconomy
from llmos.hooks.budget import ReservationBudget
from llmos.hooks.pipeline import HookPipeline
from llmos.messages import Usage, UserMessage
from llmos.modes.learner import LearnerSettings, run_learner
from llmos.runtime.bus import EventBus
from llmos.runtime.task import TaskContext
from llmos.testing.fake_llm_script import BYTES_PER_TOKEN
from llmos.testing.fake_llm_server import FakeLLMServer, FakeUsage, Fault, Turn
from llmos.tools.base import ToolContext, ToolRegistry

MODEL = "claude-sonnet-4-6"  # $3 in, $15 out per million tokens
#: 24,000 bytes: the byte bound says 24,000 prompt tokens, the fake's tokenizer 6,000.
GOAL = "Summarise: " + "lorem ipsum " * 2_000
REQUEST = BackendRequest(system="", messages=(UserMessage(content=GOAL),), max_tokens=4_096)


@pytest.fixture
async def backend(fake_server: FakeLLMServer) -> AsyncIterator[AnthropicBackend]:
    backend = AnthropicBackend(
        MODEL, api_key="sk-test", base_url=fake_server.url, timeout=30, count_timeout=1.0
    )
    yield backend
    await backend.aclose()


async def test_the_prompt_is_counted_by_the_server(
    backend: AnthropicBackend, fake_server: FakeLLMServer
) -> None:
    assert await backend.count_tokens(REQUEST) == -(-len(GOAL.encode()) // BYTES_PER_TOKEN)
    (asked,) = fake_server.count_requests()
    assert asked.method == "POST" and asked.path == "/v1/messages/count_tokens"
    assert asked.body["model"] == MODEL
    assert asked.body["messages"][0]["content"][0]["text"] == GOAL
    assert "max_tokens" not in asked.body and "stream" not in asked.body
    assert fake_server.model_requests() == []  # counting is not a model call


@pytest.mark.parametrize("fault", [Fault.server_error(503), Fault.stall()], ids=["5xx", "hang"])
async def test_a_failed_count_falls_back_to_the_byte_bound_once(
    backend: AnthropicBackend, fake_server: FakeLLMServer, fault: Fault
) -> None:
    fake_server.fail_counts(fault)
    assert await backend.count_tokens(REQUEST) == request_token_bound(REQUEST)
    assert len(fake_server.count_requests()) == 1  # no retry of the count


async def run_budgeted(
    backend: AnthropicBackend, tmp_path: Path, budget_usd: float
) -> tuple[ReservationBudget, bool]:
    economy = TokenEconomy(tmp_path / "ledger.sqlite", budget_usd=budget_usd)
    budget = ReservationBudget.open(economy, "t-1", 0.0, mode="learner", model=MODEL)
    pipeline = HookPipeline()
    pipeline.register(budget.hook())

    async def price(model: str, usage: Usage) -> float:
        return budget.charge(model=model, usage=usage)

    task = TaskContext(
        task_id="t-1",
        goal=GOAL,
        bus=EventBus(),
        hooks=pipeline,
        tools=ToolRegistry([]),
        tool_ctx=ToolContext(cwd=tmp_path, workspace=tmp_path),
        price=price,
    )
    outcome = await run_learner(task, backend, LearnerSettings(max_tokens=4_096))
    return budget, outcome.success


async def test_the_budget_caps_max_tokens_by_the_counted_prompt_and_counts_once_per_call(
    backend: AnthropicBackend, fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    """$0.10: by its bytes the prompt (goal and system prompt) is about $0.08 and leaves
    about 1,400 tokens of answer; counted (about 6,500 tokens, $0.02) it leaves 4,096.
    The model request is retried after a 529; the prompt is counted once for the call,
    not once per attempt."""
    fake_server.enqueue(
        Fault.server_error(529),
        Turn(text="A summary.", usage=FakeUsage(input_tokens=7_500, output_tokens=20)),
    )
    budget, success = await run_budgeted(backend, tmp_path, budget_usd=0.10)
    assert success
    sent = fake_server.model_requests()[-1]
    assert sent.body["max_tokens"] == 4_096  # the counted prompt leaves room for all of it
    assert len(fake_server.model_requests()) == 2  # the 529 and its retry
    assert len(fake_server.count_requests()) == 1
    assert budget.reservation.spent_usd == pytest.approx((7_500 * 3 + 20 * 15) / 1_000_000)


async def test_when_counting_fails_the_byte_bound_caps_the_call(
    backend: AnthropicBackend, fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    fake_server.fail_counts(Fault.server_error(500))
    fake_server.enqueue(Turn(text="A summary.", usage=FakeUsage(output_tokens=20)))
    _, success = await run_budgeted(backend, tmp_path, budget_usd=0.10)
    assert success
    (sent,) = fake_server.model_requests()
    prompt_bound_usd = len(GOAL.encode()) * 3 / 1_000_000  # the goal alone: less than the bound
    assert 256 <= sent.body["max_tokens"] < 4_096
    assert prompt_bound_usd + sent.body["max_tokens"] * 15 / 1_000_000 <= 0.10
    assert len(fake_server.count_requests()) == 1
