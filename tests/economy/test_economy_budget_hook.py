"""The budget hook stops the LLM call that would overspend before it is made."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from llmos.backends.base import BackendRequest
from llmos.backends.scripted import ScriptedBackend
from llmos.economy import Reservation, TokenEconomy
from llmos.errors import BudgetExceeded
from llmos.hooks.budget import (
    MIN_ANSWER_TOKENS,
    ReservationBudget,
    projected_usage,
)
from llmos.hooks.inputs import HookContext, PreLLMCallInput
from llmos.hooks.pipeline import ALLOW, Allow, Deny, HookPipeline
from llmos.messages import Usage, UserMessage
from llmos.modes.learner import LearnerSettings, run_learner
from llmos.runtime.bus import EventBus
from llmos.runtime.task import TaskContext
from llmos.tools.base import Tool, ToolContext, ToolRegistry, ToolResult

SONNET = "claude-sonnet-4-5"  # $3 in, $15 out per million
HAIKU = "claude-haiku-4-5"  # $1 in, $5 out per million
# 5,000 bytes of prompt are at most 5,000 tokens (a BPE token is at least one byte); with
# 1,000 output tokens a Sonnet call costs at most 5,000 x $3/M + 1,000 x $15/M = $0.03.
REQUEST = BackendRequest(
    system="s" * 2_500, messages=(UserMessage(content="u" * 2_500),), max_tokens=1_000
)
SONNET_CALL = 0.03


def pre_llm_call(
    tmp_path: Path, *, task_id: str = "t-1", model: str = "", **fields: Any
) -> PreLLMCallInput:
    """A ``PreLLMCall`` input; no ``model`` means the one the reservation was priced with."""
    ctx = HookContext(task_id=task_id, goal="g", cwd=tmp_path, workspace=tmp_path)
    return PreLLMCallInput(ctx=ctx, request=REQUEST, model=model, **fields)


@pytest.fixture
def economy(tmp_path: Path) -> TokenEconomy:
    return TokenEconomy(tmp_path / "ledger.sqlite", budget_usd=1.0)


def pipeline_with(
    economy: TokenEconomy, reservation: Reservation, *, grow: bool = True
) -> tuple[HookPipeline, ReservationBudget]:
    budget = ReservationBudget(economy, reservation, grow=grow)
    pipeline = HookPipeline()
    pipeline.register(budget.hook())
    return pipeline, budget


def test_a_call_is_projected_at_its_prompt_plus_max_tokens() -> None:
    assert projected_usage(REQUEST) == Usage(input_tokens=5_000, output_tokens=1_000)


async def test_a_call_that_fits_the_reservation_goes_ahead(
    economy: TokenEconomy, tmp_path: Path
) -> None:
    reservation = economy.reserve("t-1", 0.05, mode="learner", model=SONNET)
    assert await pipeline_with(economy, reservation)[0].decide(pre_llm_call(tmp_path)) == ALLOW
    assert reservation.amount_usd == 0.05  # nothing grown, nothing charged


async def test_a_call_not_even_a_short_answer_fits_is_denied_with_the_figures(
    economy: TokenEconomy, tmp_path: Path
) -> None:
    # $0.017 pays the $0.015 prompt and 133 output tokens: under the 256 of a short answer.
    reservation = economy.reserve("t-1", 0.017, mode="learner", model=SONNET)
    pipeline, budget = pipeline_with(economy, reservation, grow=False)
    decision = await pipeline.decide(pre_llm_call(tmp_path))
    short_call = 0.015 + MIN_ANSWER_TOKENS * 15 / 1_000_000
    assert isinstance(decision, Deny)
    assert decision.reason.startswith("budget: $0.0170 left, the next call needs about $0.0188")
    assert "5,000 prompt tokens + up to 256 output tokens on claude-sonnet-4-5" in decision.reason
    refusal = budget.refusal
    assert refusal is not None and decision.error is refusal  # typed, not a string
    assert str(refusal) == decision.reason
    assert (refusal.needed_usd, refusal.left_usd) == (pytest.approx(short_call), 0.017)


async def test_max_tokens_is_lowered_to_what_is_left_after_the_prompt(
    economy: TokenEconomy, tmp_path: Path
) -> None:
    # $0.02 left: $0.015 of prompt, then $0.005 pays 333 tokens at $15/M (one kept as margin).
    reservation = economy.reserve("t-1", 0.02, mode="learner", model=SONNET)
    decision = await pipeline_with(economy, reservation, grow=False)[0].decide(
        pre_llm_call(tmp_path)
    )
    assert isinstance(decision, Allow)
    sent = decision.applied_to(REQUEST)
    assert sent.max_tokens == 332
    assert sent.messages == REQUEST.messages
    assert 0.015 + sent.max_tokens * 15 / 1_000_000 <= 0.02


async def test_a_capped_call_grows_the_reservation_into_the_rest_of_the_budget(
    tmp_path: Path,
) -> None:
    economy = TokenEconomy(tmp_path / "ledger.sqlite", budget_usd=0.025)
    reservation = economy.reserve("t-1", 0.02, mode="learner", model=SONNET)
    decision = await pipeline_with(economy, reservation)[0].decide(pre_llm_call(tmp_path))
    assert isinstance(decision, Allow)
    cap = decision.applied_to(REQUEST).max_tokens
    assert cap == 665  # ($0.025 - $0.015) / $15 per million, less one
    assert reservation.amount_usd == pytest.approx(0.015 + cap * 15 / 1_000_000)
    assert reservation.amount_usd <= 0.025


async def test_a_short_reservation_grows_when_the_budget_has_room(
    economy: TokenEconomy, tmp_path: Path
) -> None:
    reservation = economy.reserve("t-1", 0.02, mode="learner", model=SONNET)
    assert await pipeline_with(economy, reservation)[0].decide(pre_llm_call(tmp_path)) == ALLOW
    assert reservation.amount_usd == pytest.approx(SONNET_CALL)
    assert economy.check_budget(0).reserved_usd == pytest.approx(SONNET_CALL)


async def test_growth_stops_at_the_total_budget(tmp_path: Path) -> None:
    economy = TokenEconomy(tmp_path / "ledger.sqlite", budget_usd=0.017)
    reservation = economy.reserve("t-1", 0.016, mode="learner", model=SONNET)
    pipeline, budget = pipeline_with(economy, reservation)
    decision = await pipeline.decide(pre_llm_call(tmp_path))
    assert isinstance(decision, Deny)
    assert decision.reason.startswith("budget: $0.0170 left, the next call needs about $0.0188 (")
    # What was left: the reservation's $0.016 and the $0.001 it could not grow into.
    assert budget.refusal is not None and budget.refusal.left_usd == pytest.approx(0.017)
    assert reservation.amount_usd == 0.016


async def test_the_call_model_wins_over_the_reservation_model(
    economy: TokenEconomy, tmp_path: Path
) -> None:
    reservation = economy.reserve("t-1", 0.02, mode="learner", model=SONNET)
    pipeline, _ = pipeline_with(economy, reservation, grow=False)
    # On Haiku the same call costs at most 5,000 x $1/M + 1,000 x $5/M = $0.01.
    assert await pipeline.decide(pre_llm_call(tmp_path, model=HAIKU)) == ALLOW
    # A projection the loop made itself is taken as is.
    decision = await pipeline.decide(pre_llm_call(tmp_path, model=HAIKU, estimated_cost_usd=0.5))
    assert isinstance(decision, Deny) and "needs about $0.50" in decision.reason


async def test_calls_the_hook_cannot_price_or_place_go_ahead(
    economy: TokenEconomy, tmp_path: Path
) -> None:
    reservation = economy.reserve("t-1", 0.0, mode="learner", model="mystery-7b")
    pipeline, _ = pipeline_with(economy, reservation, grow=False)
    assert await pipeline.decide(pre_llm_call(tmp_path)) == ALLOW  # no price: $0
    assert await pipeline.decide(pre_llm_call(tmp_path, task_id="t-other", model=SONNET)) == ALLOW


async def test_a_ledger_error_denies_the_call(economy: TokenEconomy, tmp_path: Path) -> None:
    """The budget hook fails closed: if it cannot check, the money is not spent."""
    reservation = economy.reserve("t-1", 0.0, mode="learner", model=SONNET)
    economy.release(reservation)  # growing a closed reservation is an error
    decision = await pipeline_with(economy, reservation)[0].decide(pre_llm_call(tmp_path))
    assert isinstance(decision, Deny)
    assert decision.reason.startswith("hook budget:t-1 failed: LedgerError(")
    assert "denied because this hook fails closed" in decision.reason


async def test_a_guard_polices_its_own_task_and_keeps_the_refusal(
    economy: TokenEconomy, tmp_path: Path
) -> None:
    pipeline = HookPipeline()
    guard = ReservationBudget.open(economy, "t-1", 0.017, mode="learner", model=SONNET, grow=False)
    with guard:
        pipeline.register(guard.hook())
        assert guard.hook_name == "budget:t-1"
        assert await pipeline.decide(pre_llm_call(tmp_path, task_id="t-2")) == ALLOW
        assert isinstance(await pipeline.decide(pre_llm_call(tmp_path)), Deny)
        assert guard.refusal is not None and guard.refusal.left_usd == 0.017
        assert guard.charge(model=SONNET, usage=Usage(output_tokens=1_000)) == pytest.approx(0.015)
        pipeline.unregister(guard.hook_name)
    assert guard.reservation.state == "released"
    assert economy.check_budget(0).left_usd == pytest.approx(1.0 - 0.015)
    with pytest.raises(BudgetExceeded, match=re.escape("this task needs about $2.00")):
        ReservationBudget.open(economy, "t-3", 2.0, mode="learner")


class Dump(Tool):
    """Returns 10,000 characters, so every turn's prompt may be 10,000 tokens longer."""

    name = "Dump"
    description = "Print a big log."

    class Input(BaseModel):
        part: int = 0

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        return ToolResult(content="log line\n" * 1_000 + "." * 1_000)


async def test_a_run_is_stopped_before_the_call_that_would_cross_the_budget(
    economy: TokenEconomy, tmp_path: Path
) -> None:
    """Budget $0.10. Each turn's prompt may grow by 10,000 tokens (its bytes: $0.03 on
    Sonnet) and may write 1,000 tokens ($0.015). Calls 1-3 fit; the 4th, priced at its
    bound, would not, so it is never sent."""
    economy.set_budget(0.10)
    pipeline = HookPipeline()
    guard = ReservationBudget.open(economy, "t-run", 0.02, mode="learner", model=SONNET)
    pipeline.register(guard.hook())

    async def charge(model: str, usage: Usage) -> float:
        return guard.charge(model=model, usage=usage)

    task = TaskContext(
        task_id="t-run",
        goal="read the logs",
        bus=EventBus(),
        hooks=pipeline,
        tools=ToolRegistry([Dump()]),
        tool_ctx=ToolContext(cwd=tmp_path, workspace=tmp_path),
        price=charge,
    )
    dumps = [{"tool_calls": [{"name": "Dump", "input": {"part": n}}]} for n in range(5)]
    backend = ScriptedBackend([*dumps, {"text": "done"}], model=SONNET)

    outcome = await run_learner(task, backend, LearnerSettings(max_tokens=1_000))

    assert len(backend.requests) == 3  # the 4th call was never made
    assert not outcome.success
    assert guard.refusal is not None and guard.refusal.needed_usd > guard.refusal.left_usd
    assert guard.refusal.left_usd == pytest.approx(0.10 - outcome.cost_usd)
    assert str(guard.refusal) in (outcome.error or "")
    report = economy.report()
    assert report.calls == 3
    assert report.spent_usd == pytest.approx(outcome.cost_usd)
    assert report.spent_usd + guard.refusal.needed_usd > 0.10 >= report.spent_usd
    guard.release()


async def test_a_refused_call_says_what_other_running_tasks_hold(tmp_path: Path) -> None:
    """Issue 15, point 9: money set aside by running tasks is not spent; the refusal says so
    (and does not count the refused task's own reservation as held by others)."""
    economy = TokenEconomy(tmp_path / "ledger.sqlite", budget_usd=0.05)
    economy.reserve("t-other", 0.04, mode="learner", model=SONNET)
    reservation = economy.reserve("t-1", 0.002, mode="learner", model=SONNET)
    pipeline, budget = pipeline_with(economy, reservation)
    decision = await pipeline.decide(pre_llm_call(tmp_path))
    assert isinstance(decision, Deny) and decision.error is budget.refusal
    assert decision.reason.startswith(
        "budget: $0.01 left ($0.04 more is held by 1 running task(s) and comes back as they "
        "finish), the next call needs about $0.02 (5,000 prompt tokens"
    )
    assert budget.refusal is not None
    assert (budget.refusal.held_usd, budget.refusal.held_by) == (pytest.approx(0.04), 1)
