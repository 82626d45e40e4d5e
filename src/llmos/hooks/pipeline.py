"""The hook pipeline: the one place where policy lives.

Every tool call (live or replayed, from any backend) and every LLM call
passes through it. A hook is a function registered for one event, optionally
matched by a regular expression over the tool name. ``PreToolUse`` hooks run
in order and may allow, deny (the reason is shown to the model and the
user), ask (the person decides; with nobody to ask it is a deny) or rewrite
the input for the hooks after them and the tool. A hook that raises or times
out is reported; it denies if it is ``fail_closed`` (security) and is
ignored otherwise (observers).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from llmos.errors import LLMOSError
from llmos.events import HookDecided
from llmos.kernel.bus import EventBus
from llmos.messages import Usage

if TYPE_CHECKING:
    from llmos.backends.base import PromptCount

HookEventName = Literal[
    "PreToolUse",
    "PostToolUse",
    "UserPromptSubmit",
    "PreLLMCall",
    "PostLLMCall",
    "Stop",
    "TaskStart",
    "TaskEnd",
]
HOOK_EVENTS: tuple[HookEventName, ...] = HookEventName.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Allow:
    #: The request to send when a ``PreLLMCall`` hook lowered its output cap
    #: (:class:`CapOutput`); None means "send it as it was".
    request: Any = field(default=None, compare=False)
    kind: Literal["allow"] = "allow"

    def applied_to(self, request: Any) -> Any:
        """The request to send: the hooks' lowered one, else ``request`` as it was."""
        return request if self.request is None else self.request


@dataclass(frozen=True, slots=True)
class Deny:
    reason: str
    hook: str = ""
    #: The typed error behind a refusal (a budget's ``BudgetExceeded``), which the
    #: run then ends with instead of a bare ``CallDenied``.
    error: LLMOSError | None = field(default=None, compare=False)
    kind: Literal["deny"] = "deny"


@dataclass(frozen=True, slots=True)
class Ask:
    reason: str
    kind: Literal["ask"] = "ask"


@dataclass(frozen=True, slots=True)
class Rewrite:
    input: Mapping[str, Any]
    reason: str = ""
    kind: Literal["rewrite"] = "rewrite"


@dataclass(frozen=True, slots=True)
class AddContext:
    """A ``UserPromptSubmit`` hook's contribution to the prompt."""

    text: str
    kind: Literal["add-context"] = "add-context"


@dataclass(frozen=True, slots=True)
class CapOutput:
    """A ``PreLLMCall`` hook's verdict: the call may go ahead with at most ``max_tokens`` out.

    The budget's answer to a call it can pay for only with a shorter answer:
    lowering the request's ``max_tokens`` bounds what the call can cost.
    """

    max_tokens: int
    reason: str = ""
    kind: Literal["cap-output"] = "cap-output"


Decision = Allow | Deny | Ask | Rewrite | AddContext | CapOutput
ALLOW = Allow()


@dataclass(frozen=True, slots=True, kw_only=True)
class HookContext:
    """The task a hook is called for."""

    task_id: str
    goal: str
    cwd: Path
    workspace: Path
    mode: str = "learner"
    replay: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class HookInput:
    """What a hook sees; which fields are set depends on ``event``.

    - PreToolUse: ``tool``, ``tool_input``
    - PostToolUse: ``tool``, ``tool_input``, ``tool_result``
    - UserPromptSubmit: ``prompt``
    - PreLLMCall: ``request``, ``prompt_count`` (counts its prompt with the backend, once,
      when a hook asks), ``estimated_cost_usd``
    - PostLLMCall: ``usage``, ``cost_usd``, ``model``
    - Stop / TaskEnd: ``text``, ``success``
    """

    event: HookEventName
    ctx: HookContext
    tool: str | None = None
    tool_input: Mapping[str, Any] | None = None
    tool_result: Any = None
    prompt: str | None = None
    request: Any = None
    prompt_count: PromptCount | None = None
    estimated_cost_usd: float | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    model: str | None = None
    text: str | None = None
    success: bool | None = None


HookFn = Callable[[HookInput], Awaitable[Decision | None] | Decision | None]
AskHandler = Callable[[str, str], Awaitable[bool]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Hook:
    """A registered hook. ``matcher`` is a regex over the tool name (full match)."""

    name: str
    event: HookEventName
    fn: HookFn
    matcher: str | None = None
    fail_closed: bool = False
    timeout_s: float = 10.0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.event not in HOOK_EVENTS:
            raise ValueError(f"unknown hook event {self.event!r}; one of {', '.join(HOOK_EVENTS)}")
        if self.matcher is not None:
            object.__setattr__(self, "_pattern", re.compile(self.matcher))

    def matches(self, tool: str | None) -> bool:
        if self._pattern is None or tool is None:
            return True
        return self._pattern.fullmatch(tool) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class PreToolOutcome:
    """The pipeline's verdict on one tool call; ``input`` is after rewrites."""

    allowed: bool
    input: Mapping[str, Any]
    reason: str = ""
    hook: str | None = None

    def denial_message(self) -> str:
        """What the model is told when a hook denies a call (any backend, live or replay)."""
        return (
            f"Denied by the {self.hook} hook: {self.reason}. The call was not run; "
            "choose another way to reach the goal."
        )


class HookPipeline:
    """Runs registered hooks for each event, in registration order."""

    def __init__(self, bus: EventBus | None = None, ask: AskHandler | None = None) -> None:
        self._hooks: list[Hook] = []
        self.bus = bus
        self.ask = ask

    def register(self, hook: Hook) -> None:
        self._hooks.append(hook)

    def unregister(self, name: str) -> None:
        self._hooks = [h for h in self._hooks if h.name != name]

    def on(
        self,
        event: HookEventName,
        *,
        matcher: str | None = None,
        name: str | None = None,
        fail_closed: bool = False,
        timeout_s: float = 10.0,
    ) -> Callable[[HookFn], HookFn]:
        """Decorator form of :meth:`register`."""

        def decorate(fn: HookFn) -> HookFn:
            self.register(
                Hook(
                    name=name or getattr(fn, "__name__", "hook"),
                    event=event,
                    fn=fn,
                    matcher=matcher,
                    fail_closed=fail_closed,
                    timeout_s=timeout_s,
                )
            )
            return fn

        return decorate

    @property
    def hooks(self) -> tuple[Hook, ...]:
        return tuple(self._hooks)

    async def _call(self, hook: Hook, data: HookInput) -> Decision | None:
        """Run one hook; errors and time-outs become a deny or nothing."""
        try:
            outcome = hook.fn(data)
            if inspect.isawaitable(outcome):
                async with asyncio.timeout(hook.timeout_s):
                    outcome = await outcome
            return outcome
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc!r}"
            await self._report(data, hook, "error", f"hook {hook.name} {what}")
            if hook.fail_closed:
                return Deny(f"hook {hook.name} {what}; denied because this hook fails closed")
            return None

    async def _report(self, data: HookInput, hook: Hook, decision: str, reason: str) -> None:
        if self.bus is not None:
            await self.bus.publish(
                HookDecided(
                    task_id=data.ctx.task_id,
                    hook=hook.name,
                    event=data.event,
                    decision=decision,
                    reason=reason,
                    tool=data.tool,
                )
            )

    def _matching(self, event: HookEventName, tool: str | None = None) -> list[Hook]:
        return [h for h in self._hooks if h.event == event and h.matches(tool)]

    async def pre_tool_use(
        self, ctx: HookContext, tool: str, tool_input: Mapping[str, Any]
    ) -> PreToolOutcome:
        current: Mapping[str, Any] = tool_input
        for hook in self._matching("PreToolUse", tool):
            data = HookInput(event="PreToolUse", ctx=ctx, tool=tool, tool_input=current)
            decision = await self._call(hook, data)
            match decision:
                case Rewrite(input=new_input, reason=reason):
                    current = new_input
                    await self._report(data, hook, "rewrite", reason)
                case Deny(reason=reason):
                    await self._report(data, hook, "deny", reason)
                    return PreToolOutcome(
                        allowed=False, input=current, reason=reason, hook=hook.name
                    )
                case Ask(reason=reason):
                    granted = self.ask is not None and await self.ask(tool, reason)
                    await self._report(
                        data, hook, "ask-granted" if granted else "ask-denied", reason
                    )
                    if not granted:
                        why = reason if self.ask else f"{reason} (needs approval; nobody to ask)"
                        return PreToolOutcome(
                            allowed=False, input=current, reason=why, hook=hook.name
                        )
        return PreToolOutcome(allowed=True, input=current)

    async def decide(self, data: HookInput) -> Allow | Deny:
        """Run gatekeeping hooks (``PreLLMCall``): the first deny wins.

        A :class:`CapOutput` lowers the request's ``max_tokens`` (never raises
        it); the hooks after it see the lowered request, and the returned
        ``Allow.request`` is what the caller must send.
        """
        capped = False
        for hook in self._matching(data.event, data.tool):
            decision = await self._call(hook, data)
            if isinstance(decision, Deny | Ask):
                await self._report(data, hook, "deny", decision.reason)
                error = decision.error if isinstance(decision, Deny) else None
                return Deny(decision.reason, hook=hook.name, error=error)
            if isinstance(decision, CapOutput) and decision.max_tokens < getattr(
                data.request, "max_tokens", decision.max_tokens
            ):
                request = dataclasses.replace(data.request, max_tokens=decision.max_tokens)
                data = dataclasses.replace(data, request=request)
                capped = True
                await self._report(data, hook, "rewrite", decision.reason)
        return Allow(request=data.request) if capped else ALLOW

    async def collect_context(self, data: HookInput) -> list[str]:
        """Run ``UserPromptSubmit`` hooks and gather the context they add."""
        added: list[str] = []
        for hook in self._matching(data.event):
            decision = await self._call(hook, data)
            if isinstance(decision, AddContext) and decision.text:
                added.append(decision.text)
        return added

    async def notify(self, data: HookInput) -> None:
        """Run observer hooks (PostToolUse, PostLLMCall, Stop, TaskStart, TaskEnd)."""
        for hook in self._matching(data.event, data.tool):
            await self._call(hook, data)

    def extended(self, *hooks: Hook) -> HookPipeline:
        """A copy with task-scoped hooks added after the shared ones."""
        child = HookPipeline(self.bus, self.ask)
        child._hooks = [*self._hooks, *hooks]
        return child
