"""Orchestrator mode: plan a goal into subtasks for specialised agents, run them, merge.

1. **Reuse or plan.** A saved orchestration trace that matches the goal gives the
   plan for free (no planning call); otherwise one model call returns a JSON plan
   (:mod:`llmos.modes.orchestrator.plan`), retried once with the validation error shown.
   New agents in the plan are written to the agents folder (``generated: true``).
2. **Execute.** The plan runs as a DAG (:mod:`llmos.modes.orchestrator.dag`); each subtask is
   a full task through ``ctx.run_subtask`` (the dispatcher), so a subtask that
   matches a trace is followed for free. Dependencies' outputs are passed on in
   the subtask's goal. A failed subtask is retried ``ctx.retries`` times.
3. **Synthesise.** One model call merges the outputs into the answer, unless the
   run replayed a trace and every subtask was followed: then the trace's answer
   stands and the whole run costs nothing.
4. **Remember.** A successful planned run is saved as a trace
   (:mod:`llmos.modes.orchestrator.trace`); the state is saved after every
   step (:mod:`llmos.modes.orchestrator.state`), so an interrupted run resumes.

Every call is charged to one reservation (:mod:`llmos.modes.orchestrator.budget`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

from llmos.agents import Agent, AgentLibrary
from llmos.backends.base import (
    Backend,
    BackendRequest,
    PromptCount,
    TextDelta,
    TurnFinished,
)
from llmos.economy import TokenEconomy
from llmos.errors import BudgetExceeded, LLMOSError
from llmos.events import (
    Event,
    Notice,
    PlanMade,
    PlannedSubtask,
    SubtaskFailed,
    SubtaskFinished,
    SubtaskSkipped,
    SubtaskStarted,
    UsageUpdated,
)
from llmos.hooks.budget import check_call
from llmos.hooks.pipeline import CapOutput, Deny
from llmos.memory import Matcher, Slot, Trace, TraceStore
from llmos.messages import AssistantMessage, Message, Usage, UserMessage
from llmos.modes.orchestrator.budget import (
    OrchestrationBudget,
    SubtaskShare,
    orchestration_estimate,
)
from llmos.modes.orchestrator.dag import run_dag
from llmos.modes.orchestrator.plan import (
    Plan,
    PlanInvalid,
    Subtask,
    parse_plan,
    planning_prompt,
    retry_prompt,
)
from llmos.modes.orchestrator.state import (
    OrchestrationState,
    SubtaskOutcome,
    load_state,
    partial_report,
    save_state,
    subtask_goal,
)
from llmos.modes.orchestrator.trace import (
    MODE,
    is_orchestration,
    plan_from_steps,
    replay_answer,
    saved_costs,
    to_trace,
)
from llmos.outcome import FailureKind, Outcome, kind_of_error
from llmos.runtime.bus import EventBus
from llmos.runtime.task import TaskResult, new_task_id

PLANNER_AGENT = "orchestrator"
SYNTHESIS_AGENT = "synthesizer"
PLANNER_SYSTEM = (
    "You are the planner of llmos. You split a goal into subtasks for specialised agents "
    "and answer with one JSON object only."
)
SYNTHESIS_SYSTEM = (
    "You merge the results of subtasks into the final answer to the user's goal. Use only "
    "what the results say; keep file names, figures and sources exact; be concise."
)


class SubtaskRunner(Protocol):
    """Runs one subtask as a full task through the dispatcher, with the agent applied.

    The dispatcher gives the agent's prompt (``agent.prompt`` as extra instructions),
    tools (``agent.tools``; None = all), turn limit and model to the Learner, sets
    ``BackendRequest.agent = agent.name``, and, when ``budget`` is given, uses it in
    place of its own admission (a :class:`~llmos.hooks.budget.CallBudget`, like the
    reservation admission would have opened).
    """

    def __call__(
        self, goal: str, *, agent: Agent, task_id: str, budget: SubtaskShare | None
    ) -> Awaitable[TaskResult]: ...


@dataclass(kw_only=True)
class OrchestratorContext:
    """What the orchestrator needs from the rest of llmos (the dispatcher builds it).

    ``store`` is where orchestration traces are looked up and saved; ``tools`` the
    tool names a new agent may be given; ``economy`` None runs without a budget
    (each subtask is then admitted by the dispatcher itself).
    """

    backend: Backend
    run_subtask: SubtaskRunner
    bus: EventBus
    agents: AgentLibrary
    state_dir: Path
    store: TraceStore
    tools: Collection[str]
    economy: TokenEconomy | None = None
    project: str | None = None
    concurrency: int = 3
    retries: int = 1
    subtask_budget_usd: float | None = None
    max_tokens: int = 4096
    follow_threshold: float = 0.9
    guide_threshold: float = 0.75
    max_failures: int = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class OrchestrationResult(TaskResult):
    """A task result (the answer, or the partial report) with the plan and every subtask.

    ``outcome`` is a success when every subtask finished (each judged on its own);
    the goal's own check is the dispatcher's
    (:meth:`~llmos.engine.dispatcher.Dispatcher._orchestrate`).
    """

    plan: Plan | None = None
    subtasks: tuple[SubtaskOutcome, ...] = ()
    replayed_from: str | None = None
    planning_calls: int = 0


async def run_orchestrator(
    goal: str, *, ctx: OrchestratorContext, task_id: str | None = None
) -> OrchestrationResult:
    """Plan (or reuse a plan for) ``goal``, run its subtasks, merge their outputs.

    Task failures end in a result with ``success=False``; cancellation saves the
    state as interrupted (resume it with :func:`resume_orchestration`) and re-raises.

    Example:
        >>> result = await run_orchestrator("Research X, then write report.md", ctx=ctx)
        >>> result.success, [s.status for s in result.subtasks], result.trace_id
    """
    state = OrchestrationState(task_id=task_id or new_task_id(), goal=goal)
    return await _Orchestration(ctx, state).run()


async def resume_orchestration(task_id: str, *, ctx: OrchestratorContext) -> OrchestrationResult:
    """Continue a saved orchestration, skipping the subtasks that finished.

    Raises:
        StateNotFound: there is no saved state for ``task_id`` in ``ctx.state_dir``.
    """
    state = await asyncio.to_thread(load_state, ctx.state_dir, task_id)
    return await _Orchestration(ctx, state).run()


class _Orchestration:
    """One orchestration in flight: its state, its budget and its running totals."""

    def __init__(self, ctx: OrchestratorContext, state: OrchestrationState) -> None:
        self.ctx = ctx
        self.state = state
        self.budget: OrchestrationBudget | None = None
        self.usage = Usage()
        self.spent = 0.0  # what this run spent (a resumed run: only since it resumed)
        self.saved = 0.0
        self.started = time.perf_counter()
        self.source: Trace | None = None
        self.slots: tuple[Slot, ...] = ()
        self.confidence: float | None = None  # the match of the trace whose plan is replayed

    @property
    def task_id(self) -> str:
        return self.state.task_id

    async def notice(self, message: str, level: Literal["info", "warning"] = "info") -> None:
        await self.ctx.bus.publish(Notice(task_id=self.task_id, message=message, level=level))

    async def publish(self, event: Event) -> None:
        await self.ctx.bus.publish(event)

    async def save(self) -> None:
        await asyncio.to_thread(save_state, self.ctx.state_dir, self.state)

    # ------------------------------------------------------------------ the run

    async def run(self) -> OrchestrationResult:
        if self.state.status == "done":
            return self.result()
        try:
            try:
                await self._prepare()
                await self._execute()
            finally:
                if self.budget is not None:
                    await asyncio.shield(asyncio.to_thread(self.budget.release))
        except asyncio.CancelledError:
            self.state.status = "interrupted"
            await asyncio.shield(self.save())
            raise
        except LLMOSError as exc:
            self.state.status = "failed"
            self.state.error, self.state.error_type = str(exc), type(exc).__name__
            self.state.failure = kind_of_error(exc)
            if isinstance(exc, PlanInvalid) and exc.output:
                self.state.error = f"{exc}\nThe model answered:\n{exc.output}"
        await self.save()
        return self.result()

    async def _prepare(self) -> None:
        """Find the plan: from the saved state, a matching trace, or the model."""
        resuming = self.state.plan is not None
        if resuming:
            self.state.reopen()
            await self._show_plan(resumed=True)
            await self._load_source()
        else:
            await self.save()
            await self._find_source()
        await self._open_budget(planning=self.state.plan is None)
        if self.state.plan is None:
            plan = await self._plan()
            await self._create_agents(plan)
            self.state.set_plan(plan)
        self.state.status = "running"
        await self.save()
        if not resuming:
            await self._show_plan()

    async def _find_source(self) -> None:
        ctx = self.ctx
        found = await asyncio.to_thread(
            Matcher(ctx.store).match,
            self.state.goal,
            follow_threshold=ctx.follow_threshold,
            guide_threshold=ctx.guide_threshold,
            max_failures=ctx.max_failures,
        )
        if found.decision != "follow" or found.trace is None or not is_orchestration(found.trace):
            return
        self.source, self.slots = found.trace, found.trace.slots
        self.state.source_trace = found.trace.id
        self.state.bindings = dict(found.bindings)
        self.state.set_plan(plan_from_steps(found.steps))
        self.confidence = found.confidence

    async def _load_source(self) -> None:
        if self.state.source_trace is None:
            return
        try:
            source = await asyncio.to_thread(self.ctx.store.load, self.state.source_trace)
        except LLMOSError:
            return  # deleted since: the answer is synthesised instead
        if self.ctx.store.trust_of(source).trusted:  # an edited source is not used either
            self.source = source
            self.slots = source.slots

    async def _open_budget(self, *, planning: bool) -> None:
        ctx = self.ctx
        if ctx.economy is None:
            return
        model = ctx.backend.model
        # A replayed plan may cost nothing: its reservation starts empty and grows per call.
        calls = 2 if planning else 0
        amount = orchestration_estimate(ctx.economy, model, ctx.max_tokens, calls=calls)
        try:
            self.budget = await self._reserve(amount)
        except BudgetExceeded as exc:
            if not planning:
                # A replay or a resume may need no model call: run without a reservation of
                # its own; a subtask that must learn is then admitted (or refused) by itself.
                await self.notice(f"{exc}; subtasks are budgeted one by one", "warning")
                return
            if exc.left_usd <= 0:
                raise
            # Less than the estimate is left: run on it; each call is still checked before it
            # is made, so the run stops before a call that would not fit.
            await self.notice(
                f"{exc}; starting with the ${exc.left_usd:.4f} left, the run stops before a "
                "call that would not fit",
                "warning",
            )
            self.budget = await self._reserve(exc.left_usd)

    async def _reserve(self, amount: float) -> OrchestrationBudget:
        ctx = self.ctx
        assert ctx.economy is not None
        return await OrchestrationBudget.reserve(
            ctx.economy,
            self.task_id,
            amount,
            model=ctx.backend.model,
            project=ctx.project,
            subtask_cap_usd=ctx.subtask_budget_usd,
        )

    # ------------------------------------------------------------------ planning

    async def _plan(self) -> Plan:
        ctx = self.ctx
        roster = await asyncio.to_thread(ctx.agents.agents)
        prompt = planning_prompt(self.state.goal, roster, ctx.tools)
        messages: list[Message] = [UserMessage(content=prompt)]
        for attempt in (1, 2):
            text, cost = await self._call(PLANNER_SYSTEM, messages, PLANNER_AGENT)
            self.state.planning_calls += 1
            self.state.planning_cost_usd += cost
            try:
                return await asyncio.to_thread(
                    parse_plan, text, library=ctx.agents, tools=ctx.tools
                )
            except PlanInvalid as exc:
                if attempt == 2:
                    raise PlanInvalid(
                        f"the model's plan is still invalid after one retry: {exc}",
                        output=exc.output,
                        task_id=self.task_id,
                    ) from None
                await self.notice(f"the plan is invalid ({exc}); asking once more", "warning")
                messages += [
                    AssistantMessage(text=text),
                    UserMessage(content=retry_prompt(str(exc))),
                ]
        raise AssertionError("unreachable")  # pragma: no cover

    async def _create_agents(self, plan: Plan) -> None:
        for agent in plan.new_agents:
            if await asyncio.to_thread(self.ctx.agents.find, agent.name) is not None:
                continue  # the same definition exists already (checked by parse_plan)
            written = await asyncio.to_thread(self.ctx.agents.write, agent)
            await self.notice(f"new agent {agent.name} written to {written.path} (generated)")

    async def _show_plan(self, *, resumed: bool = False) -> None:
        plan = self.state.plan
        assert plan is not None
        outcomes = self.state.outcomes
        await self.publish(
            PlanMade(
                task_id=self.task_id,
                subtasks=tuple(
                    PlannedSubtask(
                        id=s.id,
                        agent=s.agent,
                        description=s.description,
                        depends_on=s.depends_on,
                        state=outcomes[s.id].status,
                    )
                    for s in plan.subtasks
                ),
                replayed_from=None if resumed else self.state.source_trace,
                confidence=self.confidence,
                resumed=resumed,
                parallel=max(len(w) for w in plan.waves()),
            )
        )

    # ------------------------------------------------------------------ execution

    async def _execute(self) -> None:
        state = self.state
        assert state.plan is not None
        results = await run_dag(
            state.plan,
            self._run_subtask,
            outcomes=state.outcomes,
            on_outcome=self._record,
            concurrency=self.ctx.concurrency,
        )
        failed = [o for o in results.values() if o.status in ("failed", "skipped")]
        if failed:
            state.status = "failed"
            state.error = "; ".join(f"{o.id} {o.status}: {o.error}" for o in failed)
            budget_out = any(o.failure is FailureKind.BUDGET for o in failed)
            state.failure = FailureKind.BUDGET if budget_out else FailureKind.SUBTASK_FAILED
            state.error_type = "BudgetExceeded" if budget_out else "SubtaskFailed"
            return
        await self._synthesise()
        state.status = "done"
        await self._remember()

    async def _record(self, outcome: SubtaskOutcome) -> None:
        self.state.record(outcome)
        await self.save()
        if outcome.status == "skipped":
            await self.publish(
                SubtaskSkipped(
                    task_id=self.task_id, subtask_id=outcome.id, reason=outcome.error or ""
                )
            )

    async def _run_subtask(self, subtask: Subtask) -> SubtaskOutcome:
        outcome = self.state.outcomes[subtask.id]
        try:
            agent = await asyncio.to_thread(self.ctx.agents.get, subtask.agent)
        except LLMOSError as exc:
            return replace(
                outcome,
                status="failed",
                error=str(exc),
                error_type=type(exc).__name__,
                failure=kind_of_error(exc),
            )
        goal = subtask_goal(subtask, self.state.outcomes)
        tries = 1 + max(self.ctx.retries, 0)
        for attempt in range(1, tries + 1):
            sub_id = f"{self.task_id}.{subtask.id}" + (f".{attempt}" if attempt > 1 else "")
            await self.publish(
                SubtaskStarted(
                    task_id=self.task_id,
                    subtask_id=subtask.id,
                    subtask_task_id=sub_id,
                    agent=agent.name,
                    attempt=attempt,
                )
            )
            share = self.budget.share(sub_id) if self.budget else None
            try:
                result = await self.ctx.run_subtask(goal, agent=agent, task_id=sub_id, budget=share)
            except LLMOSError as exc:
                result = TaskResult(
                    task_id=sub_id,
                    goal=goal,
                    mode="auto",  # it failed before a mode was chosen
                    outcome=Outcome.of_error(exc),
                    error_type=type(exc).__name__,
                )
            outcome = replace(
                outcome,
                task_id=sub_id,
                trace_id=result.trace_id,
                mode=result.mode,
                cost_usd=outcome.cost_usd + result.cost_usd,
                attempts=attempt,
                text=result.text,
            )
            self.usage += result.usage
            self.saved += result.saved_usd
            self.spent += result.cost_usd
            if not result.failed:  # a success, or finished and unverified: its text is usable
                await self.publish(
                    SubtaskFinished(
                        task_id=self.task_id,
                        subtask_id=subtask.id,
                        subtask_task_id=sub_id,
                        mode=result.mode,
                        trace_id=result.trace_id,
                        cost_usd=result.cost_usd,
                    )
                )
                return replace(outcome, status="done", error=None, error_type=None, failure=None)
            outcome = replace(
                outcome,
                status="failed",
                error=result.error,
                error_type=result.error_type or "TaskFailed",
                failure=result.outcome.kind or FailureKind.ERROR,
            )
            final = attempt == tries or result.outcome.kind is FailureKind.BUDGET
            await self.publish(
                SubtaskFailed(
                    task_id=self.task_id,
                    subtask_id=subtask.id,
                    subtask_task_id=sub_id,
                    error=result.error or "the subtask failed",
                    failure=result.outcome.kind or FailureKind.ERROR,
                    attempt=attempt,
                    attempts=tries,
                    retrying=not final,
                    cost_usd=result.cost_usd,
                )
            )
            if final:
                break
        return outcome

    # ------------------------------------------------------------------ synthesis

    async def _synthesise(self) -> None:
        state = self.state
        assert state.plan is not None
        followed = all(o.mode == "follower" for o in state.outcomes.values())
        if self.source is not None and followed:
            state.answer = replay_answer(self.source, self.slots, state.bindings)
            return
        merged = "\n\n".join(
            f"## {s.id} [{s.agent}]: {s.description}\n{state.outcomes[s.id].text}"
            for s in state.plan.subtasks
        )
        prompt = f"Goal: {state.goal}\n\nResults of the subtasks:\n\n{merged}\n\nWrite the answer."
        text, cost = await self._call(
            SYNTHESIS_SYSTEM, [UserMessage(content=prompt)], SYNTHESIS_AGENT
        )
        state.synthesis_cost_usd += cost
        state.answer = text

    async def _call(self, system: str, messages: list[Message], agent: str) -> tuple[str, float]:
        """One model call of the orchestrator itself, budgeted and charged."""
        backend = self.ctx.backend
        request = BackendRequest(
            system=system, messages=tuple(messages), max_tokens=self.ctx.max_tokens, agent=agent
        )
        if self.budget is not None:  # the same check as every model call
            verdict = await check_call(
                self.budget,
                self.budget.prices,
                request,
                model=backend.model,
                prompt=PromptCount(backend, request),
            )
            if isinstance(verdict, Deny):
                raise verdict.error or LLMOSError(verdict.reason)
            if isinstance(verdict, CapOutput):
                request = replace(request, max_tokens=verdict.max_tokens)
        chunks: list[str] = []
        cost = 0.0
        async for event in backend.stream(request):
            if isinstance(event, TextDelta):
                chunks.append(event.text)
            elif isinstance(event, TurnFinished):
                if self.budget is not None:
                    cost = await asyncio.to_thread(
                        self.budget.charge, model=event.model, usage=event.usage
                    )
                self.usage += event.usage
                self.spent += cost
                await self.ctx.bus.publish(
                    UsageUpdated(
                        task_id=self.task_id,
                        model=event.model,
                        usage=event.usage,
                        cost_usd=cost,
                        total_cost_usd=self.spent,
                    )
                )
        return "".join(chunks), cost

    # ------------------------------------------------------------------ the end

    @property
    def total_cost(self) -> float:
        """What the whole orchestration cost, across an interruption: the trace's cost."""
        state = self.state
        subtasks = sum(o.cost_usd for o in state.outcomes.values())
        return state.planning_cost_usd + state.synthesis_cost_usd + subtasks

    async def _remember(self) -> None:
        store = self.ctx.store
        if self.source is not None:
            planning, synthesis = saved_costs(self.source)
            followed = all(o.mode == "follower" for o in self.state.outcomes.values())
            saving = planning + (synthesis if followed else 0.0)
            self.saved += saving
            await asyncio.to_thread(
                store.record_use, self.source.id, success=True, saved_usd=saving
            )
            if self.ctx.economy is not None and saving > 0:
                await asyncio.to_thread(
                    self.ctx.economy.credit_saving, self.task_id, self.source.id, saving
                )
            self.state.trace_id = self.source.id
            return
        trace = to_trace(
            self.state,
            backend=self.ctx.backend.name,
            model=self.ctx.backend.model,
            cost_usd=self.total_cost,
            usage=self.usage,
            duration_s=time.perf_counter() - self.started,
        )
        saved = await asyncio.to_thread(store.save, trace)
        self.state.trace_id = saved.id

    def result(self) -> OrchestrationResult:
        state = self.state
        done = state.status == "done"
        outcome = (
            Outcome.success("every subtask finished")
            if done
            else Outcome.failed(
                state.failure or FailureKind.ERROR, state.error or "the orchestration failed"
            )
        )
        return OrchestrationResult(
            task_id=state.task_id,
            goal=state.goal,
            mode=MODE,
            outcome=outcome,
            text=state.answer if done else partial_report(state),
            plan=state.plan,
            subtasks=tuple(state.outcomes.values()),
            cost_usd=self.spent,
            saved_usd=self.saved,
            duration_s=time.perf_counter() - self.started,
            usage=self.usage,
            trace_id=state.trace_id,
            replayed_from=state.source_trace,
            planning_calls=state.planning_calls,
            error_type=None if done else state.error_type,
        )
