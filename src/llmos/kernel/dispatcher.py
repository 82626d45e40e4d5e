"""The dispatcher: one task in, the right mode chosen, one result out.

It asks memory for the best trace and its confidence, then runs the Follower
(replay, no LLM), the Learner guided by a near trace, or the Learner alone;
a replay that diverges is healed by the Learner from the point it stopped.
It saves what was learned and publishes each task's first and last events.
Nothing here prints.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from llmos.backends.base import AgentBackend, Backend
from llmos.config import Settings
from llmos.economy import DEFAULT_PRICES, TokenEconomy
from llmos.economy.estimate import estimate_learner_cost, first_call_cost
from llmos.errors import BackendError, BudgetExceeded, ConfigError, LLMOSError
from llmos.events import ModeChosen, Notice, TaskFailed, TaskFinished, TaskStarted
from llmos.hooks.budget import BudgetGuard
from llmos.hooks.builtin import check_disabled
from llmos.hooks.memory import MemoryInjector
from llmos.hooks.pipeline import HookInput, HookPipeline
from llmos.hooks.trace_capture import TraceRecorder
from llmos.kernel.bus import EventBus
from llmos.kernel.task import TaskContext, new_task_id
from llmos.memory import Matcher, MatchResult, Step, Trace, TraceStore
from llmos.memory.facts import FactStore
from llmos.memory.insights import extract_insights, insights_enabled
from llmos.memory.slots import substitute
from llmos.messages import Usage
from llmos.modes import guidance
from llmos.modes.follower import replay
from llmos.modes.learner import LearnerOutcome, LearnerSettings, run_learner
from llmos.tools import sandbox_status
from llmos.tools.base import ToolContext, ToolRegistry, ToolSettings
from llmos.workspace import Workspace


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskResult:
    """What a task came to: the mode that ran it, its answer, cost and trace."""

    task_id: str
    goal: str
    mode: str
    success: bool
    text: str
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    duration_s: float = 0.0
    usage: Usage = field(default_factory=Usage)
    trace_id: str | None = None
    error: str | None = None
    error_type: str | None = None


def tool_settings(settings: Settings) -> ToolSettings:
    cfg = settings.tools
    return ToolSettings(
        bash_timeout_s=cfg.bash_timeout,
        model_output_chars=cfg.model_output_chars,
        trace_output_chars=cfg.trace_output_chars,
        read_max_lines=cfg.read_max_lines,
        webfetch_allow=tuple(cfg.webfetch_allow),
        webfetch_timeout_s=cfg.webfetch_timeout,
        sandbox=cfg.sandbox,
        sandbox_network=cfg.sandbox_network,
    )


class Dispatcher:
    """Runs tasks; the backend is only built when a mode needs the LLM."""

    def __init__(
        self,
        *,
        settings: Settings,
        workspace: Workspace,
        bus: EventBus,
        hooks: HookPipeline,
        tools: ToolRegistry,
        backend_factory: Callable[[], Backend | AgentBackend],
    ) -> None:
        self.settings = settings
        self.workspace = workspace
        self.bus = bus
        self.hooks = hooks
        self.tools = tools
        self.economy = TokenEconomy.from_settings(
            settings, prices=DEFAULT_PRICES.with_overrides(settings.prices)
        )
        self.store = TraceStore.for_memory(workspace.memory)
        self.matcher = Matcher(self.store)
        self.facts = FactStore.for_memory(workspace.memory)
        self.injector: MemoryInjector | None = None
        if "memory" not in check_disabled(settings):
            follower = settings.follower
            self.injector = MemoryInjector(
                self.facts,
                self.matcher,
                max_tokens=settings.memory.inject_max_tokens,
                follow_threshold=follower.follow_threshold,
                guide_threshold=follower.guide_threshold,
            )
            hooks.register(self.injector.hook())
        self._backend_factory = backend_factory
        self._backend: Backend | AgentBackend | None = None
        self._sandbox_told = False

    @property
    def backend_built(self) -> bool:
        return self._backend is not None

    def backend(self) -> Backend | AgentBackend:
        if self._backend is None:
            self._backend = self._backend_factory()
        return self._backend

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()
            self._backend = None

    async def match(self, goal: str) -> MatchResult:
        """What memory offers for ``goal`` (follow / guide / learn); runs nothing."""
        cfg = self.settings.follower
        return await asyncio.to_thread(
            self.matcher.match,
            goal,
            follow_threshold=cfg.follow_threshold,
            guide_threshold=cfg.guide_threshold,
            max_failures=cfg.max_failures,
        )

    async def verify(self, trace_id: str) -> VerifyResult:
        """Replay a trace in a throwaway copy of the working directory; report if it holds.

        Nothing in the workspace changes except the trace's status: an imported
        (untrusted) trace that holds becomes followable.
        """
        trace = await asyncio.to_thread(self.store.load, trace_id)
        with tempfile.TemporaryDirectory(prefix="llmos-verify-") as scratch:
            root = Path(scratch)
            workdir = root / "output"
            if self.workspace.output.is_dir():
                await asyncio.to_thread(
                    shutil.copytree, self.workspace.output, workdir, symlinks=True
                )
            task = self._context(f"verify-{trace.id}", trace.goal, workdir, self.hooks, root=root)
            outcome = await replay(task, trace.steps)
        if outcome.divergence is not None:
            step = outcome.divergence.index + 1
            return VerifyResult(
                trace=trace, holds=False, reason=f"step {step}: {outcome.divergence.reason}"
            )
        if trace.status == "untrusted":
            trace = await asyncio.to_thread(self.store.set_status, trace.id, "success")
        return VerifyResult(trace=trace, holds=True, reason=f"all {len(trace.steps)} steps hold")

    # ------------------------------------------------------------------ running

    async def run(
        self,
        goal: str,
        *,
        mode: str | None = None,
        cwd: Path | None = None,
        task_id: str | None = None,
    ) -> TaskResult:
        """Run one task to its end. Task errors become a failed result; bad settings raise."""
        task_id = task_id or new_task_id()
        mode = mode or self.settings.mode
        started = time.perf_counter()
        await self.bus.publish(
            TaskStarted(task_id=task_id, goal=goal, mode=mode, workspace=str(self.workspace.root))
        )
        recorder = TraceRecorder(task_id)
        task = self._context(task_id, goal, cwd, self.hooks.extended(recorder.hook()))
        run = _Run(task=task, recorder=recorder, started=started)
        try:
            await task.hooks.notify(HookInput(event="TaskStart", ctx=task.hook_ctx()))
            await self._tell_sandbox_once(task)
            result = await self._dispatch(run, mode)
        except asyncio.CancelledError:
            await asyncio.shield(self._cancelled(run))
            raise
        except ConfigError as exc:
            await self._publish_failed(task_id, str(exc), type(exc).__name__, started)
            raise
        except LLMOSError as exc:
            result = run.failed(mode, str(exc), type(exc).__name__)
        result = replace(result, duration_s=time.perf_counter() - started)
        await task.hooks.notify(
            HookInput(
                event="TaskEnd", ctx=task.hook_ctx(), text=result.text, success=result.success
            )
        )
        await self._publish_end(result)
        return result

    async def _dispatch(self, run: _Run, mode: str) -> TaskResult:
        if mode == "learner":
            return await self._learn(run, reason="learner mode was asked for")
        found = await self.match(run.task.goal)
        if found.decision == "follow" and found.trace is not None:
            return await self._follow(run, found)
        if mode == "follower":
            best = f" (best: {found.confidence:.2f}, {found.reason})" if found.trace else ""
            return run.failed(
                "follower",
                f"no saved trace matches this goal well enough to replay{best}; "
                "run it with --mode auto or --mode learner to learn it",
                "NoMatch",
            )
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
            advice=await self._failed_advice(run.task.goal),
        )

    async def _follow(self, run: _Run, found: MatchResult) -> TaskResult:
        trace = found.trace
        assert trace is not None  # _dispatch checked
        task = run.task
        await task.publish(
            ModeChosen(
                task_id=task.task_id,
                mode="follower",
                reason=found.reason,
                trace_id=trace.id,
                confidence=found.confidence,
            )
        )
        outcome = await replay(task, found.steps)
        if outcome.divergence is None:
            saved = trace.cost_usd
            await asyncio.to_thread(self.store.record_use, trace.id, success=True, saved_usd=saved)
            await asyncio.to_thread(self.economy.credit_saving, task.task_id, trace.id, saved)
            return TaskResult(
                task_id=task.task_id,
                goal=task.goal,
                mode="follower",
                success=True,
                text=_answer(trace, found),
                saved_usd=saved,
                trace_id=trace.id,
            )
        await asyncio.to_thread(self.store.record_use, trace.id, success=False)
        divergence = outcome.divergence
        await task.publish(
            Notice(
                task_id=task.task_id,
                level="warning",
                message=f"replay diverged at step {divergence.index + 1} ({divergence.step.tool}):"
                f" {divergence.reason}; the Learner takes over from there",
            )
        )
        done_steps = found.steps[: len(outcome.done)]
        return await self._learn(
            run,
            mode="healed",
            reason=f"healing trace {trace.id} from step {divergence.index + 1}",
            trace=trace,
            advice=guidance.heal(trace, done_steps, divergence),
            keep_calls=len(outcome.done),
        )

    async def _learn(
        self,
        run: _Run,
        *,
        reason: str,
        mode: str = "learner",
        trace: Trace | None = None,
        confidence: float | None = None,
        advice: str = "",
        keep_calls: int | None = None,
    ) -> TaskResult:
        task = run.task
        backend = self.backend()
        await task.publish(
            ModeChosen(
                task_id=task.task_id,
                mode=mode,
                reason=reason,
                trace_id=trace.id if trace else None,
                confidence=confidence,
                backend=backend.name,
                model=backend.model,
            )
        )
        cfg = self.settings.learner
        if keep_calls is not None:
            del run.recorder.calls[keep_calls:]
        guard = await self._admit(task, mode, backend.model)

        async def charge(model: str, usage: Usage) -> float:
            return await asyncio.to_thread(guard.charge, model=model, usage=usage, mode=mode)

        budget_hooks = () if "budget" in check_disabled(self.settings) else (guard.hook(),)
        task = replace(task, hooks=task.hooks.extended(*budget_hooks), price=charge)
        try:
            outcome = await run_learner(
                task,
                backend,
                LearnerSettings(
                    max_turns=cfg.max_turns,
                    max_tokens=cfg.max_tokens,
                    extra_instructions=cfg.system_prompt,
                ),
                guidance=advice,
            )
            if guard.refusal is not None and outcome.error_type == "CallDenied":
                outcome = replace(outcome, error=str(guard.refusal), error_type="BudgetExceeded")
            await task.hooks.notify(
                HookInput(
                    event="Stop", ctx=task.hook_ctx(), text=outcome.text, success=outcome.success
                )
            )
            saved = await self._save(
                run,
                outcome,
                mode=mode,
                backend=backend.name,
                parent=trace.id if trace and mode == "healed" else None,
            )
            if outcome.success:
                outcome = await self._learn_insights(task, backend, saved, outcome)
        finally:
            await asyncio.shield(asyncio.to_thread(guard.release))
        return TaskResult(
            task_id=task.task_id,
            goal=task.goal,
            mode=mode,
            success=outcome.success,
            text=outcome.text,
            cost_usd=outcome.cost_usd,
            usage=outcome.usage,
            trace_id=saved.id,
            error=outcome.error,
            error_type=outcome.error_type,
        )

    async def _save(
        self, run: _Run, outcome: LearnerOutcome, *, mode: str, backend: str, parent: str | None
    ) -> Trace:
        trace = run.recorder.to_trace(
            goal=run.task.goal,
            final_answer=outcome.text,
            success=outcome.success,
            mode=mode,
            backend=backend,
            model=outcome.model,
            cost_usd=outcome.cost_usd,
            usage=outcome.usage,
            duration_s=time.perf_counter() - run.started,
            parent=parent,
            error=outcome.error,
        )
        if self.injector is not None:
            trace = replace(trace, injected=self.injector.take(run.task.task_id))
        return await asyncio.to_thread(self.store.save, trace)

    async def _learn_insights(
        self,
        task: TaskContext,
        backend: Backend | AgentBackend,
        trace: Trace,
        outcome: LearnerOutcome,
    ) -> LearnerOutcome:
        """One cheap call after a successful run: reusable insights become facts (L4)."""
        if not isinstance(backend, Backend) or not insights_enabled(
            backend.name, self.settings.memory.insights
        ):
            return outcome
        try:
            found = await extract_insights(backend, self.facts, trace, task_id=task.task_id)
        except BackendError as exc:
            await task.publish(
                Notice(task_id=task.task_id, level="warning", message=f"no insights: {exc}")
            )
            return outcome
        cost = await task.price(found.model, found.usage)
        return replace(outcome, usage=outcome.usage + found.usage, cost_usd=outcome.cost_usd + cost)

    async def _admit(self, task: TaskContext, mode: str, model: str) -> BudgetGuard:
        """Reserve the run's estimated cost before any work (admission).

        The estimate comes from similar traces' history. When less than that is
        left but at least one worst-case call fits, the task runs on what is left
        (the budget hook stops it before a call that would not fit); with less
        than one call's worth it is refused here, with the figures.
        """
        near = await asyncio.to_thread(
            self.matcher.similar, task.goal, include_failed=False, limit=5
        )
        threshold = self.settings.follower.guide_threshold
        history = [(c.trace.usage, c.trace.cost_usd) for c in near if c.score >= threshold]
        max_tokens = self.settings.learner.max_tokens
        prices = self.economy.prices
        estimate = estimate_learner_cost(history, model, max_tokens, prices=prices)
        try:
            return await asyncio.to_thread(
                BudgetGuard.open, self.economy, task.task_id, estimate, mode=mode, model=model
            )
        except BudgetExceeded as exc:
            one_call = first_call_cost(model, max_tokens, prices=prices)
            if exc.left_usd < one_call or exc.left_usd <= 0:
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
                BudgetGuard.open, self.economy, task.task_id, exc.left_usd, mode=mode, model=model
            )

    async def _failed_advice(self, goal: str) -> str:
        """A failed run of a near goal, if memory has one, so it is not repeated."""
        near = await asyncio.to_thread(self.matcher.similar, goal, include_failed=True, limit=3)
        threshold = self.settings.follower.guide_threshold
        for candidate in near:
            if candidate.trace.status == "failed" and candidate.score >= threshold:
                return guidance.failed_attempt(candidate.trace)
        return ""

    # ------------------------------------------------------------------ helpers

    def _context(
        self,
        task_id: str,
        goal: str,
        cwd: Path | None,
        hooks: HookPipeline,
        *,
        root: Path | None = None,
    ) -> TaskContext:
        workdir = (cwd or self.workspace.output).absolute()
        workdir.mkdir(parents=True, exist_ok=True)
        return TaskContext(
            task_id=task_id,
            goal=goal,
            bus=self.bus,
            hooks=hooks,
            tools=self.tools,
            tool_ctx=ToolContext(
                cwd=workdir,
                workspace=root or self.workspace.root,
                settings=tool_settings(self.settings),
            ),
            price=_no_charge,
        )

    async def _tell_sandbox_once(self, task: TaskContext) -> None:
        if self._sandbox_told or not self.settings.tools.sandbox:
            return
        self._sandbox_told = True
        status = await asyncio.to_thread(sandbox_status)
        if not status.available:
            await task.publish(Notice(task_id=task.task_id, level="warning", message=status.reason))

    async def _cancelled(self, run: _Run) -> None:
        """Keep what a cancelled run did as a failed trace, then report the failure."""
        if run.recorder.calls:
            trace = run.recorder.to_trace(
                goal=run.task.goal,
                final_answer="",
                success=False,
                mode="cancelled",
                backend="",
                model="",
                cost_usd=0.0,
                usage=Usage(),
                duration_s=time.perf_counter() - run.started,
                error="cancelled",
            )
            await asyncio.to_thread(self.store.save, trace)
        await self._publish_failed(run.task.task_id, "cancelled", "Cancelled", run.started)

    async def _publish_failed(self, task_id: str, error: str, kind: str, started: float) -> None:
        await self.bus.publish(
            TaskFailed(
                task_id=task_id,
                error=error,
                error_type=kind,
                duration_s=time.perf_counter() - started,
            )
        )

    async def _publish_end(self, result: TaskResult) -> None:
        if result.success:
            await self.bus.publish(
                TaskFinished(
                    task_id=result.task_id,
                    mode=result.mode,
                    success=True,
                    text=result.text,
                    cost_usd=result.cost_usd,
                    saved_usd=result.saved_usd,
                    duration_s=result.duration_s,
                    usage=result.usage,
                    trace_id=result.trace_id,
                )
            )
            return
        await self.bus.publish(
            TaskFailed(
                task_id=result.task_id,
                error=result.error or "the task failed",
                error_type=result.error_type or "TaskFailed",
                mode=result.mode,
                cost_usd=result.cost_usd,
                duration_s=result.duration_s,
                trace_id=result.trace_id,
            )
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    trace: Trace
    holds: bool
    reason: str


@dataclass
class _Run:
    """One task in flight: its context, its recorder, when it started."""

    task: TaskContext
    recorder: TraceRecorder
    started: float

    def failed(self, mode: str, error: str, kind: str) -> TaskResult:
        return TaskResult(
            task_id=self.task.task_id,
            goal=self.task.goal,
            mode=mode,
            success=False,
            text="",
            error=error,
            error_type=kind,
        )


async def _no_charge(model: str, usage: Usage) -> float:
    """The pricer outside a Learner run: nothing is charged (replay calls no model)."""
    return 0.0


def _answer(trace: Trace, found: MatchResult) -> str:
    """The trace's final answer, with the new slot values where the old ones stood."""
    if not found.bindings or not trace.final_answer:
        return trace.final_answer
    carrier = (Step(tool="answer", input={"text": trace.final_answer}),)
    return str(substitute(carrier, trace.slots, found.bindings)[0].input["text"])
