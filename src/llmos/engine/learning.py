"""A Learner run as the dispatcher drives it: admission, the loop, the trace, insights.

Admission reserves the run's estimated cost before any work; the loop runs
under the task's budget hook; the run (success or failure) is saved as a trace
with what memory injected; a successful run may leave insights as facts.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from llmos.agents import Agent
from llmos.backends.base import AgentBackend, Backend, BackendRequest, PromptCount
from llmos.economy.estimate import estimate_learner_cost, first_call_cost
from llmos.engine.insights import extract_insights, insights_enabled
from llmos.engine.services import Services
from llmos.engine.task_run import TaskRun
from llmos.errors import BackendError, BudgetExceeded
from llmos.events import Notice, RunMode
from llmos.hooks.budget import ReservationBudget
from llmos.hooks.builtin import check_disabled
from llmos.hooks.inputs import PreLLMCallInput, StopInput
from llmos.hooks.pipeline import Allow, Deny
from llmos.memory import Trace
from llmos.messages import Usage
from llmos.modes.judge import action_of, judge
from llmos.modes.learner import LearnerOutcome, LearnerSettings, run_learner
from llmos.outcome import FailureKind, Outcome
from llmos.runtime.task import TaskContext, TaskResult


async def learn(
    services: Services,
    run: TaskRun,
    backend: Backend | AgentBackend,
    *,
    mode: RunMode,
    parent: str | None = None,
    advice: str = "",
    not_replayable: str = "",
) -> TaskResult:
    """Run the Learner for ``run`` under its budget, judge it, save what it did as a trace.

    For a heal (``parent`` set) the calls already in the recorder are the
    replayed steps; the judge also asks that the heal itself did something.
    ``not_replayable`` (why) saves a successful run's trace as unverified, so
    it guides later runs but is never followed (it lacks input the run had);
    the task's own result keeps its verdict.
    """
    task = run.task
    replayed = len(run.recorder.calls) if parent is not None else None
    budget = run.budget or await admit(services, task, mode, backend.model)

    async def charge(model: str, usage: Usage) -> float:
        cost = await asyncio.to_thread(budget.charge, model=model, usage=usage, mode=mode)
        run.cost_usd += cost
        run.usage = run.usage + usage
        return cost

    guards = () if "budget" in check_disabled(services.settings) else (budget.hook(),)
    task = replace(task, hooks=task.hooks.extended(*guards), price=charge, mode=mode)
    limits = learner_settings(services, run.agent)
    if isinstance(backend, AgentBackend) and run.agent is None:
        limits = replace(limits, agents=tuple(services.agents().agents()))
    try:
        outcome = await run_learner(task, backend, limits, guidance=advice)
        verdict = await asyncio.to_thread(judge_learned, run, outcome, replayed)
        await task.hooks.notify(
            StopInput(ctx=task.hook_ctx(), text=outcome.text, success=verdict.ok)
        )
        kept = Outcome.unverified(not_replayable) if not_replayable and verdict.ok else verdict
        trace = await save_trace(
            services, run, outcome, kept, mode=mode, backend=backend.name, parent=parent
        )
        if verdict.ok:
            outcome = await learn_insights(services, task, backend, trace, outcome)
    finally:
        if run.budget is None:  # a budget handed in is released by whoever opened it
            await asyncio.shield(asyncio.to_thread(budget.release))
    return TaskResult(
        task_id=task.task_id,
        goal=task.goal,
        mode=mode,
        outcome=verdict,
        text=outcome.text,
        cost_usd=outcome.cost_usd,
        usage=outcome.usage,
        trace_id=trace.id,
        error_type=outcome.error_type or _error_type(verdict),
    )


def judge_learned(run: TaskRun, outcome: LearnerOutcome, replayed: int | None) -> Outcome:
    """The judged outcome of a Learner (or heal) run: :func:`llmos.modes.judge.judge`."""
    stopped = None
    if not outcome.success:
        stopped = Outcome.failed(
            outcome.kind or FailureKind.ERROR, outcome.error or "the run did not finish"
        )
    recorded = [action_of(call) for call in run.recorder.calls]
    if outcome.actions is None:  # a self-driving backend: the hook's record is all there is
        own = recorded[replayed:] if replayed is not None else recorded
        prior = recorded[:replayed] if replayed is not None else []
    else:
        own = list(outcome.actions)
        prior = recorded[:replayed] if replayed is not None else []
    if run.diverged is not None:
        prior.append(run.diverged)
    # A heal must redo what diverged, unless that step ran and only its result differed.
    must_act = replayed is not None and run.diverged is None
    return judge(
        run.task.goal,
        stopped=stopped,
        actions=[*prior, *own],
        cwd=run.task.cwd,
        answer=outcome.text,
        own_actions=own if must_act else None,
    )


def _error_type(verdict: Outcome) -> str | None:
    """The diagnostic name of a failure the judge found (the loop's own stops have theirs)."""
    if verdict.kind is FailureKind.ACCEPTANCE_FAILED:
        return "AcceptanceFailed"
    if verdict.kind in (FailureKind.STEP_FAILED, FailureKind.POLICY):
        return "StepFailed"
    return None


def learner_settings(services: Services, agent: Agent | None) -> LearnerSettings:
    """The loop's limits and instructions, with an agent's prompt, tools and turns applied."""
    cfg = services.settings.learner
    if agent is None:
        return LearnerSettings(
            max_turns=cfg.max_turns, max_tokens=cfg.max_tokens, extra_instructions=cfg.system_prompt
        )
    instructions = "\n\n".join(p for p in (cfg.system_prompt.strip(), agent.prompt.strip()) if p)
    return LearnerSettings(
        max_turns=agent.max_turns or cfg.max_turns,
        max_tokens=cfg.max_tokens,
        extra_instructions=instructions,
        tools=agent.tools,
        agent=agent.name,
    )


async def admit(services: Services, task: TaskContext, mode: str, model: str) -> ReservationBudget:
    """Reserve the run's estimated cost before any work.

    The estimate comes from similar traces' history. When less than that is
    left but at least one worst-case call fits, the task runs on what is left
    (the budget hook stops it before a call that would not fit); with less
    than one call's worth it is refused here, with the figures.
    """
    near = await asyncio.to_thread(
        services.library.similar, task.goal, include_failed=False, limit=5
    )
    threshold = services.settings.follower.guide_threshold
    history = [(c.trace.usage, c.trace.cost_usd) for c in near if c.score >= threshold]
    max_tokens = services.settings.learner.max_tokens
    economy = services.economy
    estimate = estimate_learner_cost(history, model, max_tokens, prices=economy.prices)
    try:
        return await asyncio.to_thread(
            ReservationBudget.open, economy, task.task_id, estimate, mode=mode, model=model
        )
    except BudgetExceeded as exc:
        if exc.left_usd <= 0 or exc.left_usd < first_call_cost(
            model, max_tokens, prices=economy.prices
        ):
            raise
        await task.publish(
            Notice(
                task_id=task.task_id,
                level="warning",
                message=f"{exc}; starting with the ${exc.left_usd:.4f} left, the run stops "
                "before a call that would not fit",
            )
        )
        return await asyncio.to_thread(
            ReservationBudget.open, economy, task.task_id, exc.left_usd, mode=mode, model=model
        )


async def save_trace(
    services: Services,
    run: TaskRun,
    outcome: LearnerOutcome,
    verdict: Outcome,
    *,
    mode: str,
    backend: str,
    parent: str | None,
) -> Trace:
    """Save the run, with its judged outcome, in the task's trace library, atomically."""
    trace = run.recorder.to_trace(
        goal=run.task.goal,
        final_answer=outcome.text,
        outcome=verdict,
        mode=mode,
        backend=backend,
        model=outcome.model,
        cost_usd=outcome.cost_usd,
        usage=outcome.usage,
        duration_s=time.perf_counter() - run.started,
        parent=parent,
    )
    if services.injector is not None:
        trace = replace(trace, injected=services.injector.take(run.task.task_id))
    return await asyncio.to_thread(services.library.home.save, trace)


async def learn_insights(
    services: Services,
    task: TaskContext,
    backend: Backend | AgentBackend,
    trace: Trace,
    outcome: LearnerOutcome,
) -> LearnerOutcome:
    """One cheap call after a successful run: reusable insights become facts (L4)."""
    enabled = insights_enabled(backend.name, services.settings.memory.insights)
    if not isinstance(backend, Backend) or not enabled:
        return outcome

    async def may_call(request: BackendRequest) -> Allow | Deny:  # the same check as every call
        return await task.hooks.decide(
            PreLLMCallInput(
                ctx=task.hook_ctx(),
                request=request,
                model=backend.model,
                prompt_count=PromptCount(backend, request),
            )
        )

    try:
        found = await extract_insights(
            backend, services.facts, trace, task_id=task.task_id, may_call=may_call
        )
    except (BackendError, BudgetExceeded) as exc:
        await task.publish(
            Notice(task_id=task.task_id, level="warning", message=f"no insights: {exc}")
        )
        return outcome
    cost = await task.price(found.model, found.usage)
    return replace(outcome, usage=outcome.usage + found.usage, cost_usd=outcome.cost_usd + cost)
