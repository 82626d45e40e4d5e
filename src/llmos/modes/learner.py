"""Learner mode: the agent loop on an LLM backend.

Each turn sends the conversation and the tool schemas to the backend, streams
its text, runs the tool calls it asks for through :func:`run_tool_call` (so
every call passes the hooks) and feeds the results back, until the model
answers without calling a tool or the turn limit is reached. A backend that
runs its own loop (the Claude Agent SDK) is driven through
:class:`~llmos.backends.base.AgentBackend` with the same hooks instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmos.backends.base import (
    AgentBackend,
    AgentRun,
    Backend,
    BackendRequest,
    PromptCount,
    TextDelta,
    ToolCallReady,
    TurnFinished,
    request_tokens,
)
from llmos.errors import BackendError, BudgetExceeded
from llmos.events import ContextCompacted, TextStreamed, UsageUpdated
from llmos.hooks.inputs import PostLLMCallInput, PreLLMCallInput, UserPromptSubmitInput
from llmos.hooks.pipeline import Allow, Deny
from llmos.messages import (
    AssistantMessage,
    Message,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)
from llmos.modes.acceptance import Action
from llmos.modes.context import SUMMARY_SYSTEM, compact, over_budget
from llmos.outcome import FailureKind, kind_of_error
from llmos.runtime.task import TaskContext
from llmos.runtime.tool_runner import ToolOutcome, run_tool_call
from llmos.tools.base import ToolSpec

SYSTEM_PROMPT = """\
You are the agent of llmos, working on a user's task in a working directory.
Use the tools to do the work for real: create and edit files, run commands, check results.
Use paths relative to the working directory; you cannot reach files outside it.
When a tool call fails, read the error and try another way.
When the task is done, reply with a short final answer and no tool call."""


#: Identical consecutive tool-call turns after which a run is stopped as looping.
REPEAT_LIMIT = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class LearnerOutcome:
    """How a Learner run ended, before it is judged (:mod:`llmos.modes.judge`).

    ``success`` means only that the model ended with a final answer; otherwise
    ``kind`` says what stopped it. ``actions`` are the run's tool calls as the
    judge sees them, denied ones included (None when a self-driving backend ran
    them: the trace hook's record is all there is).
    """

    text: str
    success: bool
    usage: Usage
    cost_usd: float
    turns: int
    model: str
    error: str | None = None
    error_type: str | None = None
    kind: FailureKind | None = None
    actions: tuple[Action, ...] | None = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LearnerSettings:
    max_turns: int = 25
    max_tokens: int = 4096
    extra_instructions: str = ""
    tools: Sequence[str] | None = None  # None offers every registered tool
    agent: str | None = None
    #: Agents a self-driving backend may delegate to (SDK AgentDefinitions).
    agents: Sequence[object] = ()


def build_system_prompt(settings: LearnerSettings) -> str:
    if settings.extra_instructions:
        return f"{SYSTEM_PROMPT}\n\n{settings.extra_instructions.strip()}"
    return SYSTEM_PROMPT


async def build_prompt(task: TaskContext, guidance: str = "") -> str:
    """The first user message: the goal, context from hooks, and any guidance."""
    added = await task.hooks.collect_context(
        UserPromptSubmitInput(ctx=task.hook_ctx(), prompt=task.goal)
    )
    parts = [task.goal, *added]
    if guidance:
        parts.append(guidance)
    return "\n\n".join(parts)


async def run_learner(
    task: TaskContext,
    backend: Backend | AgentBackend,
    settings: LearnerSettings,
    *,
    guidance: str = "",
) -> LearnerOutcome:
    """Run the agent loop to its end; backend failures end it with ``success=False``."""
    system = build_system_prompt(settings)
    if isinstance(backend, AgentBackend):
        # The SDK fires UserPromptSubmit itself; its hook adds the context.
        prompt = "\n\n".join(part for part in (task.goal, guidance) if part)
        return await _run_agent_backend(task, backend, settings, system, prompt)
    prompt = await build_prompt(task, guidance)
    loop = _Loop(task, backend, settings, system)
    try:
        return await loop.run(prompt)
    except BackendError as exc:
        return loop.outcome(
            success=False,
            error=str(exc),
            error_type=type(exc).__name__,
            kind=kind_of_error(exc),
        )


class _Loop:
    """State of one agent loop: the conversation and the running totals."""

    def __init__(
        self, task: TaskContext, backend: Backend, settings: LearnerSettings, system: str
    ) -> None:
        self.task = task
        self.backend = backend
        self.settings = settings
        self.system = system
        self.messages: list[Message] = []
        self.usage = Usage()
        self.cost = 0.0
        self.turns = 0
        self.text = ""
        self._repeats = 0
        self.actions: list[Action] = []
        self.stop_reason = ""

    def outcome(
        self,
        *,
        success: bool,
        error: str | None = None,
        error_type: str | None = None,
        kind: FailureKind | None = None,
    ) -> LearnerOutcome:
        return LearnerOutcome(
            text=self.text,
            success=success,
            usage=self.usage,
            cost_usd=self.cost,
            turns=self.turns,
            model=self.backend.model,
            error=error,
            error_type=error_type,
            kind=kind,
            actions=tuple(self.actions),
        )

    async def run(self, prompt: str) -> LearnerOutcome:
        self.messages.append(UserMessage(content=prompt))
        tool_specs = self.task.tools.specs(self.settings.tools)
        while self.turns < self.settings.max_turns:
            request = self._request(tool_specs)
            if over_budget(request, self.backend.context_window):
                request = await self._fit_context(request, tool_specs) or request
            verdict = await self._may_call(request)
            if isinstance(verdict, Deny):
                return self.outcome(
                    success=False,
                    error=f"stopped before the next model call: {verdict.reason}",
                    error_type=type(verdict.error).__name__ if verdict.error else "CallDenied",
                    kind=FailureKind.BUDGET
                    if isinstance(verdict.error, BudgetExceeded)
                    else FailureKind.POLICY,
                )
            request = verdict.applied_to(request)
            self.turns += 1
            text, calls = await self._one_turn(request)
            self.messages.append(AssistantMessage(text=text, tool_calls=tuple(calls)))
            if not calls:
                self.text = text
                if self.stop_reason == "max_tokens":
                    return self.outcome(
                        success=False,
                        error=f"the model's answer was cut at max_tokens "
                        f"({request.max_tokens}) before it ended",
                        error_type="MaxTokens",
                        kind=FailureKind.MAX_TOKENS,
                    )
                return self.outcome(success=True)
            if self._same_as_before(calls):
                return self.outcome(
                    success=False,
                    error=f"the model made the same tool call {REPEAT_LIMIT} times in a row; "
                    "stopped. A larger model (--model) usually avoids this",
                    error_type="Looping",
                    kind=FailureKind.LOOP,
                )
            for call in calls:
                done = await run_tool_call(self.task, call)
                if done.result.ran or done.denied:  # a malformed call did nothing: not an action
                    self.actions.append(self._action(done))
                self.messages.append(
                    ToolResultMessage(
                        call_id=call.id,
                        tool=call.name,
                        content=done.result.content,
                        is_error=done.result.is_error,
                    )
                )
        return self.outcome(
            success=False,
            error=(
                f"stopped after {self.turns} turns without a final answer; raise the limit "
                "with learner.max_turns (LLMOS_LEARNER__MAX_TURNS) or simplify the goal"
            ),
            error_type="MaxTurns",
            kind=FailureKind.MAX_TURNS,
        )

    @staticmethod
    def _action(done: ToolOutcome) -> Action:
        return Action(
            tool=done.call.name,
            input=dict(done.call.input),
            ok=not done.result.is_error,
            denied=done.denied,
            exit_code=done.result.exit_code,
            output=done.result.content[:4_000],
        )

    def _request(self, tool_specs: Sequence[ToolSpec]) -> BackendRequest:
        return BackendRequest(
            system=self.system,
            messages=tuple(self.messages),
            tools=tool_specs,
            max_tokens=self.settings.max_tokens,
            agent=self.settings.agent,
        )

    async def _may_call(self, request: BackendRequest) -> Allow | Deny:
        return await self.task.hooks.decide(
            PreLLMCallInput(
                ctx=self.task.hook_ctx(),
                request=request,
                model=self.backend.model,
                prompt_count=PromptCount(self.backend, request),
            )
        )

    async def _fit_context(
        self, request: BackendRequest, tool_specs: Sequence[ToolSpec]
    ) -> BackendRequest | None:
        """L1: fold old turns (summary or note) so the next request fits the window."""
        summarize = self._summarize if self.backend.summarizes_context else None
        folded = await compact(self.messages, summarize)
        if folded is None:
            return None
        self.messages = folded.messages
        smaller = self._request(tool_specs)
        await self.task.publish(
            ContextCompacted(
                task_id=self.task.task_id,
                folded_messages=folded.folded,
                summarised=folded.summarised,
                tokens_before=request_tokens(request),
                tokens_after=request_tokens(smaller),
                context_window=self.backend.context_window,
            )
        )
        return smaller

    async def _summarize(self, text: str) -> str | None:
        """One model call that condenses old turns; it passes the budget like any other."""
        request = BackendRequest(
            system=SUMMARY_SYSTEM,
            messages=(UserMessage(content=text),),
            max_tokens=min(self.settings.max_tokens, 1024),
            agent=self.settings.agent,
        )
        verdict = await self._may_call(request)
        if isinstance(verdict, Deny):
            return None  # the old turns are dropped with a note instead
        request = verdict.applied_to(request)
        chunks: list[str] = []
        async for event in self.backend.stream(request):
            match event:
                case TextDelta(text=delta):
                    chunks.append(delta)
                case TurnFinished(usage=usage, model=model):
                    await self._account(model, usage)
        return "".join(chunks)

    def _same_as_before(self, calls: list[ToolCall]) -> bool:
        """True once the model asks for the very same calls ``REPEAT_LIMIT`` turns running."""
        previous = [m for m in self.messages[:-1] if isinstance(m, AssistantMessage)]
        same = bool(previous) and [(c.name, dict(c.input)) for c in calls] == [
            (c.name, dict(c.input)) for c in previous[-1].tool_calls
        ]
        self._repeats = self._repeats + 1 if same else 0
        return self._repeats >= REPEAT_LIMIT - 1

    async def _one_turn(self, request: BackendRequest) -> tuple[str, list[ToolCall]]:
        chunks: list[str] = []
        calls: list[ToolCall] = []
        async for event in self.backend.stream(request):
            match event:
                case TextDelta(text=delta):
                    chunks.append(delta)
                    await self.task.publish(TextStreamed(task_id=self.task.task_id, text=delta))
                case ToolCallReady(call=call):
                    calls.append(call)
                case TurnFinished(usage=usage, model=model, stop_reason=stop_reason):
                    self.stop_reason = stop_reason
                    await self._account(model, usage)
        return "".join(chunks), calls

    async def _account(self, model: str, usage: Usage) -> None:
        cost = await self.task.price(model, usage)
        self.usage += usage
        self.cost += cost
        await self.task.publish(
            UsageUpdated(
                task_id=self.task.task_id,
                model=model,
                usage=usage,
                cost_usd=cost,
                total_cost_usd=self.cost,
            )
        )
        await self.task.hooks.notify(
            PostLLMCallInput(ctx=self.task.hook_ctx(), usage=usage, cost_usd=cost, model=model)
        )


async def _run_agent_backend(
    task: TaskContext,
    backend: AgentBackend,
    settings: LearnerSettings,
    system: str,
    prompt: str,
) -> LearnerOutcome:
    run = AgentRun(
        goal=prompt,
        system=system,
        cwd=str(task.cwd),
        tools=list(settings.tools or task.tools.names()),
        max_turns=settings.max_turns,
        hooks=task.hooks,
        hook_ctx=task.hook_ctx(),
        publish=task.publish,
        agents=settings.agents,
    )
    try:
        done = await backend.run_agent(run)
        # The SDK reports usage once, at the end: charge it to the task's reservation.
        await task.price(done.model, done.usage)
    except BackendError as exc:
        return LearnerOutcome(
            text="",
            success=False,
            usage=Usage(),
            cost_usd=0.0,
            turns=0,
            model=backend.model or backend.name,
            error=str(exc),
            error_type=type(exc).__name__,
            kind=kind_of_error(exc),
            actions=None,
        )
    return LearnerOutcome(
        text=done.text,
        success=done.success,
        usage=done.usage,
        cost_usd=done.cost_usd,
        turns=done.turns,
        model=done.model,
        error=done.error,
        error_type=None if done.success else "AgentFailed",
        kind=None if done.success else _agent_failure(done.error or ""),
        actions=None,
    )


def _agent_failure(error: str) -> FailureKind:
    """The SDK reports its stops as text ("error_max_turns" …): the kind it stands for."""
    if "max_turns" in error or "turns without a final answer" in error:
        return FailureKind.MAX_TURNS
    return FailureKind.BACKEND_ERROR
