"""The dispatcher: one task in, the right mode chosen, one result out.

It asks memory for the best trace and its confidence, then runs the Follower
(replay, no LLM), the Orchestrator (several agents), the Learner guided by a
near trace, or the Learner alone; a replay that diverges is healed by the
Learner from the point it stopped. It publishes each task's first and last
events. Nothing here prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos.agents import INHERIT, Agent
from llmos.backends.base import AgentBackend, Backend
from llmos.engine.services import Services
from llmos.engine.task_run import TaskRun
from llmos.errors import ConfigError, LLMOSError
from llmos.events import (
    Healed,
    ModeChosen,
    Notice,
    ReplayDiverged,
    RequestedMode,
    RunMode,
    TaskFailed,
    TaskFinished,
    TaskMode,
    TaskStarted,
    TraceScope,
    is_task_mode,
)
from llmos.hooks.inputs import TaskEndInput, TaskStartInput
from llmos.hooks.trace_capture import TraceRecorder
from llmos.memory import MatchResult, Trace
from llmos.memory.slots import rewriter
from llmos.modes import guidance
from llmos.modes.acceptance import Action
from llmos.modes.follower import replay
from llmos.modes.judge import action_of, judge
from llmos.modes.orchestrator.trace import is_orchestration
from llmos.outcome import NOT_ADVICE, FailureKind, Outcome, OutcomeStatus, kind_of_error
from llmos.runtime.task import TaskContext, TaskResult, new_task_id
from llmos.runtime.watchdog import Cancellation, cancellation_reason
from llmos.tools import sandbox_status
from llmos.tools.base import ToolRegistry

if TYPE_CHECKING:  # a budget comes from the Learner or an orchestration: not on a replay
    from llmos.hooks.budget import CallBudget

RunBody = Callable[[TaskRun], Awaitable[TaskResult]]


class Dispatcher:
    """Runs tasks over ``services``; a backend is only built when a mode needs the LLM."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._sandbox_told = False
        self._problems_told: set[str] = set()

    def backend(self, agent: Agent | None = None) -> Backend | AgentBackend:
        """The backend for a task (an agent with a model of its own gets its own backend)."""
        own = agent is not None and agent.model != INHERIT
        return self.services.backends.get(agent.model if own and agent else None)

    async def match(self, goal: str) -> MatchResult:
        """What memory offers for ``goal`` (follow / guide / learn); runs nothing."""
        cfg = self.services.settings.follower
        return await asyncio.to_thread(
            self.services.library.match,
            goal,
            follow_threshold=cfg.follow_threshold,
            guide_threshold=cfg.guide_threshold,
            max_failures=cfg.max_failures,
        )

    # ------------------------------------------------------------------ running

    async def run(
        self,
        goal: str,
        *,
        mode: RequestedMode | None = None,
        cwd: Path | None = None,
        task_id: str | None = None,
        agent: Agent | None = None,
        budget: CallBudget | None = None,
        nested: bool = False,
        context: str = "",
    ) -> TaskResult:
        """Run one task to its end. Task errors become a failed result; bad settings raise.

        ``agent`` applies an agent's prompt, tools, turn limit and model;
        ``budget`` replaces admission (an orchestration's share); ``nested``
        marks a subtask, which never starts an orchestration of its own;
        ``context`` is input given beside the goal (piped to the CLI), which
        only the Learner can use.
        """
        mode = mode or self.services.settings.mode
        return await self._lifecycle(
            goal,
            mode,
            lambda run: (
                self._with_context(run, mode, context) if context else self._dispatch(run, mode)
            ),
            cwd=cwd,
            task_id=task_id,
            agent=agent,
            budget=budget,
            nested=nested,
        )

    async def resume(self, task_id: str) -> TaskResult:
        """Continue an interrupted orchestration from its saved state."""
        from llmos.modes.orchestrator.state import load_state

        state = await asyncio.to_thread(load_state, self.services.state_dir, task_id)
        return await self._lifecycle(
            state.goal,
            "orchestrator",
            lambda run: self._orchestrate(run, reason="resuming its saved state", resume=True),
            task_id=task_id,
        )

    async def _lifecycle(
        self,
        goal: str,
        mode: RequestedMode,
        body: RunBody,
        *,
        cwd: Path | None = None,
        task_id: str | None = None,
        agent: Agent | None = None,
        budget: CallBudget | None = None,
        nested: bool = False,
    ) -> TaskResult:
        """First and last events, TaskStart/TaskEnd hooks, errors and cancellation."""
        task_id = task_id or new_task_id()
        started = time.perf_counter()
        await self.services.bus.publish(
            TaskStarted(
                task_id=task_id, goal=goal, mode=mode, workspace=str(self.services.workspace.root)
            )
        )
        recorder = TraceRecorder(task_id)
        try:
            tools = self._tools_for(agent)
        except ConfigError as exc:
            await self._publish_failed(task_id, str(exc), type(exc).__name__, started)
            raise
        asked: TaskMode = mode if is_task_mode(mode) else "auto"
        hooks = self.services.hooks.extended(recorder.hook())
        task = self.services.task_context(task_id, goal, cwd, hooks, tools, mode=asked)
        run = TaskRun(
            task=task,
            recorder=recorder,
            started=started,
            agent=agent,
            budget=budget,
            nested=nested,
        )
        try:
            await task.hooks.notify(TaskStartInput(ctx=task.hook_ctx()))
            await self._tell_sandbox_once(task)
            result = await body(run)
        except asyncio.CancelledError as exc:
            await _to_the_end(self._cancelled(run, cancellation_reason(exc)))
            raise
        except ConfigError as exc:
            await self._publish_failed(task_id, str(exc), type(exc).__name__, started)
            raise
        except LLMOSError as exc:
            result = run.failed(mode, str(exc), type(exc).__name__, kind_of_error(exc))
        result = replace(result, duration_s=time.perf_counter() - started)
        ended = replace(task, mode=result.mode) if is_task_mode(result.mode) else task
        await task.hooks.notify(
            TaskEndInput(ctx=ended.hook_ctx(), text=result.text, success=result.success)
        )
        await self._publish_end(result)
        return result

    async def _dispatch(self, run: TaskRun, mode: RequestedMode) -> TaskResult:
        goal = run.task.goal
        if mode == "orchestrator" and not run.nested:
            return await self._orchestrate(run, reason="orchestrator mode was asked for")
        if mode == "learner":
            return await self._learn(run, reason="learner mode was asked for")
        found = await self.match(goal)
        await self._tell_problems_once(run.task)
        await self._tell_untrusted(run.task, found)
        if found.decision == "follow" and found.trace is not None:
            if not is_orchestration(found.trace):
                return await self._follow(run, found)
            if not run.nested:
                return await self._orchestrate(run, reason=f"replays a saved plan ({found.reason})")
        if mode == "follower":
            best = f" (best: {found.confidence:.2f}, {found.reason})" if found.trace else ""
            return run.failed(
                "follower",
                f"no saved trace matches this goal well enough to replay{best}; "
                "run it in mode auto or learner to learn it",
                "NoMatch",
                FailureKind.NO_MATCH,
            )
        if mode == "auto" and not run.nested:
            from llmos.modes.orchestrator.selection import needs_orchestration

            decision = needs_orchestration(goal)
            if decision.orchestrate and isinstance(self.backend(run.agent), Backend):
                return await self._orchestrate(run, reason=decision.reason)
        async with self.services.learning.hold(
            goal, on_wait=lambda lock: self._tell_wait(run, lock)
        ) as waited:
            if waited:  # the run we waited for may have left a trace to follow
                found = await self.match(goal)
                followable = found.trace is not None and not is_orchestration(found.trace)
                if found.decision == "follow" and followable:
                    return await self._follow(run, found)
            if found.decision == "guide" and found.trace is not None:
                return await self._learn(
                    run,
                    mode="guided",
                    reason=f"a near trace guides the Learner ({found.reason})",
                    trace=found.trace,
                    confidence=found.confidence,
                    advice=guidance.near_trace(found.trace, found.steps or found.trace.steps),
                )
            return await self._learn(
                run,
                reason=found.reason or "no saved trace matches this goal",
                advice=await self._failed_advice(goal),
            )

    async def _with_context(self, run: TaskRun, mode: RequestedMode, context: str) -> TaskResult:
        """A goal with input beside it is learned: a trace never saw that input, so
        following one would ignore it; and its own trace, which holds the steps but
        not the input, is kept as guidance, never followed."""
        if mode == "follower":
            return run.failed(
                "follower",
                "input given beside the goal cannot be replayed from a trace; "
                "run it in mode auto or learner",
                "NoMatch",
                FailureKind.NO_MATCH,
            )
        why = "input was given beside the goal, so it is learned, not followed from a trace"
        await run.task.publish(Notice(task_id=run.task.task_id, level="info", message=why))
        limit = self.services.settings.tools.model_output_chars
        return await self._learn(
            run,
            reason=why,
            advice=guidance.piped_input(context, limit),
            not_replayable="learned with input given beside the goal, which a replay would not "
            "have; promote it if the steps do not depend on that input",
        )

    async def _tell_wait(self, run: TaskRun, lock: Path) -> None:
        await run.task.publish(
            Notice(
                task_id=run.task.task_id,
                level="warning",
                message="this goal is being learned by another run right now; waiting for it to "
                f"finish, to follow its trace (lock {lock})",
            )
        )

    async def _follow(self, run: TaskRun, found: MatchResult) -> TaskResult:
        trace = found.trace
        assert trace is not None  # _dispatch checked
        task = run.task
        store = self.services.library.store_of(trace.id)
        scope: TraceScope = "starter" if store.scope == "starter" else "own"
        await task.publish(
            ModeChosen(
                task_id=task.task_id,
                mode="follower",
                reason=found.reason,
                trace_id=trace.id,
                confidence=found.confidence,
                library=scope,
            )
        )
        if trace.status != "success":  # the matcher follows only successes; never trust less
            return run.failed(
                "follower",
                f"trace {trace.id} is {trace.status}, not a judged success: it is never replayed",
                "NotReplayable",
                FailureKind.ERROR,
            )
        outcome = await replay(replace(task, mode="follower"), found.steps)
        if outcome.divergence is None:
            judged = await asyncio.to_thread(self._judge_replay, run, trace, found)
            if judged.ok:
                saved = trace.cost_usd
                await asyncio.to_thread(store.record_use, trace.id, success=True, saved_usd=saved)
                await asyncio.to_thread(
                    self.services.economy.credit_saving, task.task_id, trace.id, saved
                )
                return TaskResult(
                    task_id=task.task_id,
                    goal=task.goal,
                    mode="follower",
                    outcome=judged,
                    text=_answer(trace, found),
                    saved_usd=saved,
                    trace_id=trace.id,
                    library=scope,
                )
            await asyncio.to_thread(store.record_use, trace.id, success=False)
            await task.publish(
                Notice(
                    task_id=task.task_id,
                    level="warning",
                    message=f"every step of trace {trace.id} held, but {judged.message}; "
                    "the Learner takes over",
                )
            )
            return await self._heal(run, trace, advice="", reason=judged.message)
        await asyncio.to_thread(store.record_use, trace.id, success=False)
        divergence = outcome.divergence
        if divergence.denied:
            where = f"step {divergence.index + 1} ({divergence.step.tool})"
            await self._demote(run, trace, f"the policy denied its {where}")
            return run.failed(
                "follower",
                f"replay of trace {trace.id} stopped at {where}: {divergence.reason}; a step the "
                "policy denies fails the replay (it is not healed)",
                "PolicyDenied",
                FailureKind.POLICY,
            )
        ran = divergence.ran
        expected = divergence.step.postcondition
        await task.publish(
            ReplayDiverged(
                task_id=task.task_id,
                trace_id=trace.id,
                step=divergence.index + 1,
                tool=divergence.step.tool,
                reason=divergence.reason,
                expected_error=expected.is_error,
                seen_error=ran.result.is_error if ran is not None else None,
                expected_exit_code=expected.exit_code,
                seen_exit_code=ran.result.exit_code if ran is not None else None,
            )
        )
        del run.recorder.calls[len(outcome.done) :]  # the step that failed is not kept
        if ran is not None and not ran.denied and not ran.result.is_error:
            run.diverged = Action(
                tool=ran.call.name,
                input=dict(ran.call.input),
                ok=True,
                exit_code=ran.result.exit_code,
                output=ran.result.content[:4_000],
            )
        return await self._heal(
            run,
            trace,
            advice=guidance.heal(trace, found.steps[: len(outcome.done)], divergence),
            reason=f"step {divergence.index + 1} ({divergence.step.tool}): {divergence.reason}",
            start=divergence.index + 1,
        )

    def _judge_replay(self, run: TaskRun, trace: Trace, found: MatchResult) -> Outcome:
        """A replay whose steps held is judged like a live run: the goal's check must pass.

        An undecided check keeps the trace's own verdict (it was judged a success
        when learned, on the same steps).
        """
        verdict = judge(
            run.task.goal,
            stopped=None,
            actions=[action_of(call) for call in run.recorder.calls],
            cwd=run.task.cwd,
            answer=_answer(trace, found),
        )
        if verdict.status is OutcomeStatus.UNVERIFIED:
            return Outcome.success(f"replayed trace {trace.id}, every step held")
        return verdict

    async def _heal(
        self, run: TaskRun, trace: Trace, *, advice: str, reason: str, start: int | None = None
    ) -> TaskResult:
        """The Learner continues a replay that did not hold; if it cannot, the trace is demoted.

        A trace whose replay diverged and could not be healed is no longer vouched
        for: it becomes ``unverified`` (guidance only) until ``traces verify``
        passes or a person promotes it.
        """
        where = f" from step {start}" if start is not None else ""
        result = await self._learn(
            run,
            mode="healed",
            reason=f"healing trace {trace.id}{where}",
            trace=trace,
            advice=advice,
        )
        if not result.success:
            note = f"its replay did not hold ({reason}) and the Learner could not heal it"
            await self._demote(run, trace, note)
        elif result.trace_id is not None:
            await run.task.publish(
                Healed(task_id=run.task.task_id, trace_id=trace.id, new_trace_id=result.trace_id)
            )
        return result

    async def _demote(self, run: TaskRun, trace: Trace, note: str) -> None:
        """No longer vouch for ``trace``: ``unverified`` (guidance only) until verified again."""
        store = self.services.library.store_of(trace.id)
        await asyncio.to_thread(
            store.set_outcome, trace.id, Outcome.unverified(note), only_if="success"
        )
        await run.task.publish(
            Notice(
                task_id=run.task.task_id,
                level="warning",
                message=f"trace {trace.id} is no longer followed: {note}",
            )
        )

    async def _learn(
        self,
        run: TaskRun,
        *,
        reason: str,
        mode: RunMode = "learner",
        trace: Trace | None = None,
        confidence: float | None = None,
        advice: str = "",
        not_replayable: str = "",
    ) -> TaskResult:
        backend = self.backend(run.agent)
        await run.task.publish(
            ModeChosen(
                task_id=run.task.task_id,
                mode=mode,
                reason=reason,
                trace_id=trace.id if trace else None,
                confidence=confidence,
                backend=backend.name,
                model=backend.model,
            )
        )
        parent = trace.id if trace is not None and mode == "healed" else None
        from llmos.engine.learning import learn  # the Learner: not imported for a replay

        return await learn(
            self.services,
            run,
            backend,
            mode=mode,
            parent=parent,
            advice=advice,
            not_replayable=not_replayable,
        )

    async def _orchestrate(self, run: TaskRun, *, reason: str, resume: bool = False) -> TaskResult:
        from llmos.engine.orchestration import orchestrator_context
        from llmos.modes.orchestrator.run import resume_orchestration, run_orchestrator

        backend = self.backend()
        await run.task.publish(
            ModeChosen(
                task_id=run.task.task_id,
                mode="orchestrator",
                reason=reason,
                backend=backend.name,
                model=backend.model,
            )
        )
        ctx = orchestrator_context(self.services, self.run, cwd=run.task.cwd)
        if resume:
            result = await resume_orchestration(run.task.task_id, ctx=ctx)
        else:
            result = await run_orchestrator(run.task.goal, ctx=ctx, task_id=run.task.task_id)
        done: TaskResult = result
        if not done.success:
            return done
        # Every subtask finished; the goal's own check decides, on what is on disk.
        verdict = await asyncio.to_thread(
            judge,
            run.task.goal,
            stopped=None,
            actions=(),
            cwd=run.task.cwd,
            answer=done.text,
            known_actions=False,
        )
        if verdict.status is OutcomeStatus.UNVERIFIED:
            return done  # each subtask was judged on its own goal
        if done.trace_id is not None and not verdict.ok:
            store = self.services.library.store_of(done.trace_id)
            await asyncio.to_thread(store.set_outcome, done.trace_id, verdict, only_if="success")
        return replace(done, outcome=verdict)

    async def _failed_advice(self, goal: str) -> str:
        """A failed run of a near goal, if memory has one, so it is not repeated.

        A run stopped by an outage (a refused key, a dead server, the budget) or
        by a person says nothing about how to do the task, so it is no advice.
        """
        near = await asyncio.to_thread(
            self.services.library.similar, goal, include_failed=True, limit=3
        )
        threshold = self.services.settings.follower.guide_threshold
        for candidate in near:
            trace = candidate.trace
            if (
                trace.status == "failed"
                and candidate.score >= threshold
                and trace.failure not in NOT_ADVICE
            ):
                return guidance.failed_attempt(trace)
        return ""

    # ------------------------------------------------------------------ helpers

    def _tools_for(self, agent: Agent | None) -> ToolRegistry:
        """The registry, restricted to an agent's tools (for learning and replay alike)."""
        if agent is None or agent.tools is None:
            return self.services.tools
        try:
            return self.services.tools.subset(agent.tools)
        except KeyError as exc:
            where = f" ({agent.path})" if agent.path else ""
            raise ConfigError(
                f"agent {agent.name}{where} uses unknown tool(s) {exc.args[0]}; "
                f"known tools: {', '.join(sorted(self.services.tools.names()))}",
                key="agent.tools",
            ) from exc

    async def _tell_sandbox_once(self, task: TaskContext) -> None:
        if self._sandbox_told or not self.services.settings.tools.sandbox:
            return
        self._sandbox_told = True
        status = await asyncio.to_thread(sandbox_status)
        if not status.available:
            await task.publish(Notice(task_id=task.task_id, level="warning", message=status.reason))

    async def _tell_problems_once(self, task: TaskContext) -> None:
        """Name each unreadable trace file once: it is skipped, and the user should know."""
        for problem in await asyncio.to_thread(self.services.library.problems):
            if str(problem) not in self._problems_told:
                self._problems_told.add(str(problem))
                await task.publish(
                    Notice(
                        task_id=task.task_id,
                        level="warning",
                        message=f"skipped a broken trace file: {problem}",
                    )
                )

    async def _tell_untrusted(self, task: TaskContext, found: MatchResult) -> None:
        """Name each trace that was passed over because its seal does not check."""
        for item in found.untrusted:
            await task.publish(
                Notice(task_id=task.task_id, level="warning", message=item.message())
            )

    async def _cancelled(self, run: TaskRun, why: Cancellation) -> None:
        """Keep what a cancelled run did as a failed trace, then report it with its cost."""
        trace_id = None
        if run.recorder.calls or run.cost_usd > 0:  # what it did, or at least what it cost
            trace = run.recorder.to_trace(
                goal=run.task.goal,
                final_answer="",
                outcome=why.outcome,
                mode="cancelled",
                backend="",
                model="",
                cost_usd=run.cost_usd,
                usage=run.usage,
                duration_s=time.perf_counter() - run.started,
            )
            trace_id = (await asyncio.to_thread(self.services.library.home.save, trace)).id
        await self._publish_failed(
            run.task.task_id,
            why.message,
            why.error_type,
            run.started,
            failure=why.kind,
            cost_usd=run.cost_usd,
            trace_id=trace_id,
        )

    async def _publish_failed(
        self,
        task_id: str,
        error: str,
        kind: str,
        started: float,
        *,
        failure: FailureKind = FailureKind.ERROR,
        cost_usd: float = 0.0,
        trace_id: str | None = None,
    ) -> None:
        await self.services.bus.publish(
            TaskFailed(
                task_id=task_id,
                error=error,
                error_type=kind,
                failure=failure,
                cost_usd=cost_usd,
                duration_s=time.perf_counter() - started,
                trace_id=trace_id,
            )
        )

    async def _publish_end(self, result: TaskResult) -> None:
        outcome = result.outcome
        if not outcome.is_failed:
            await self.services.bus.publish(
                TaskFinished(
                    task_id=result.task_id,
                    mode=result.mode,
                    success=outcome.ok,
                    status="success" if outcome.ok else "unverified",
                    note=outcome.message,
                    text=result.text,
                    cost_usd=result.cost_usd,
                    saved_usd=result.saved_usd,
                    duration_s=result.duration_s,
                    usage=result.usage,
                    trace_id=result.trace_id,
                    library=result.library,
                )
            )
            return
        await self.services.bus.publish(
            TaskFailed(
                task_id=result.task_id,
                error=result.error or "the task failed",
                error_type=result.error_type or "TaskFailed",
                failure=outcome.kind or FailureKind.ERROR,
                mode=result.mode,
                cost_usd=result.cost_usd,
                duration_s=result.duration_s,
                trace_id=result.trace_id,
            )
        )


def _answer(trace: Trace, found: MatchResult) -> str:
    """The trace's final answer, with the new slot values where the old ones stood."""
    rewrite = rewriter(trace.slots, found.bindings)
    return rewrite(trace.final_answer) if rewrite else trace.final_answer


async def _to_the_end(work: Coroutine[Any, Any, None]) -> None:
    """Await ``work`` to its end even if cancelled again meanwhile (a watchdog cancels a
    task that goes on): the record of a cancelled run is complete when the task ends."""
    done = asyncio.ensure_future(work)
    while not done.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(done)
    done.result()
