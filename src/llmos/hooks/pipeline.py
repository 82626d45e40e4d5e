"""The hook pipeline: the one place where policy lives.

Every tool call (live or replayed, from any backend) and every LLM call
passes through it. A hook is a function registered for one event, optionally
matched by a regular expression over the tool name; it takes that event's
input type (:mod:`llmos.hooks.inputs`). ``PreToolUse`` hooks run in order
and may allow, deny (the reason is shown to the model and the user), ask
(the person decides; with nobody to ask it is a deny) or rewrite the input
for the hooks after them and the tool. A hook that raises or outlives its
``timeout_s`` is reported; it denies if it is ``fail_closed`` (security) and
is ignored otherwise (observers). A plain (sync) hook runs in a worker thread,
so its timeout holds and it never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import inspect
import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol

from llmos.errors import LLMOSError
from llmos.events import Event, HookDecided, HookVerdict
from llmos.hooks.inputs import (
    HOOK_EVENTS,
    HookContext,
    HookEventName,
    HookInput,
    InputT,
    ObservedInput,
    PostToolUseInput,
    PreLLMCallInput,
    PreToolUseInput,
    UserPromptSubmitInput,
)

if TYPE_CHECKING:
    from llmos.backends.base import BackendRequest

__all__ = [
    "ALLOW",
    "HOOK_EVENTS",
    "AddContext",
    "Allow",
    "Ask",
    "AskHandler",
    "CapOutput",
    "Decision",
    "Deny",
    "Hook",
    "HookContext",
    "HookEventName",
    "HookFn",
    "HookInput",
    "HookPipeline",
    "PreToolOutcome",
    "Rewrite",
]


@dataclass(frozen=True, slots=True)
class Allow:
    #: The request to send when a ``PreLLMCall`` hook lowered its output cap
    #: (:class:`CapOutput`); None means "send it as it was".
    request: BackendRequest | None = field(default=None, compare=False)
    kind: Literal["allow"] = "allow"

    def applied_to(self, request: BackendRequest) -> BackendRequest:
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


#: A hook for the event whose input is ``InputT``: it may answer at once or be awaited.
HookFn = Callable[[InputT], Awaitable[Decision | None] | Decision | None]
AskHandler = Callable[[str, str], Awaitable[bool]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Hook(Generic[InputT]):
    """A registered hook. ``matcher`` is a regex over the tool name (full match).

    ``fn`` takes the input type of ``event`` (``PreToolUse`` → :class:`PreToolUseInput`).
    A coroutine function runs on the event loop; a plain function runs in a
    worker thread (see :func:`_in_worker_thread`). Both are cut off after ``timeout_s``.
    """

    name: str
    event: HookEventName
    fn: HookFn[InputT]
    matcher: str | None = None
    fail_closed: bool = False
    timeout_s: float = 10.0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _is_async: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.event not in HOOK_EVENTS:
            raise ValueError(f"unknown hook event {self.event!r}; one of {', '.join(HOOK_EVENTS)}")
        if self.matcher is not None:
            object.__setattr__(self, "_pattern", re.compile(self.matcher))
        object.__setattr__(self, "_is_async", inspect.iscoroutinefunction(self.fn))

    def matches(self, tool: str | None) -> bool:
        if self._pattern is None or tool is None:
            return True
        return self._pattern.fullmatch(tool) is not None

    async def answer(self, data: InputT) -> Decision | None:
        """Call ``fn``: on the loop when it is async, else in a worker thread."""
        outcome = self.fn(data) if self._is_async else await _in_worker_thread(self.fn, data)
        if inspect.isawaitable(outcome):  # a plain function may hand back a coroutine
            outcome = await outcome
        return outcome


async def _in_worker_thread(fn: Callable[[InputT], Any], data: InputT) -> Any:
    """Run a sync hook in a daemon thread of its own and await its answer.

    The await is cut off by the caller's timeout; the thread is not: Python
    cannot stop a thread, so a hook that outlives its timeout runs on until it
    returns, and its answer is dropped. The thread is a daemon of its own
    rather than one of ``asyncio.to_thread``'s shared workers, so a stuck hook
    never holds a worker the rest of llmos needs (the store, the ledger), and
    never keeps the process from exiting.
    """
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(outcome: Any, error: Exception | None) -> None:
        if answer.done():  # cut off by its timeout, or the task was cancelled
            return
        if error is None:
            answer.set_result(outcome)
        else:
            answer.set_exception(error)

    def work() -> None:
        outcome: Any = None
        error: Exception | None = None
        try:
            outcome = context.run(fn, data)
        except Exception as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits for it
            loop.call_soon_threadsafe(settle, outcome, error)

    threading.Thread(target=work, name="llmos-hook", daemon=True).start()
    return await answer


def _tool_of(data: HookInput) -> str | None:
    return data.tool if isinstance(data, PreToolUseInput | PostToolUseInput) else None


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


class EventSink(Protocol):
    """Where the pipeline reports its decisions: the runtime's ``EventBus``.

    A protocol, not the bus itself: hooks sit below the runtime in the layers.
    """

    async def publish(self, event: Event) -> None: ...


class HookPipeline:
    """Runs registered hooks for each event, in registration order."""

    def __init__(self, bus: EventSink | None = None, ask: AskHandler | None = None) -> None:
        self._hooks: list[Hook[Any]] = []
        self.bus = bus
        self.ask = ask

    def register(self, hook: Hook[Any]) -> None:
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
    ) -> Callable[[HookFn[InputT]], HookFn[InputT]]:
        """Decorator form of :meth:`register`."""

        def decorate(fn: HookFn[InputT]) -> HookFn[InputT]:
            self.register(
                Hook(
                    name=name or str(getattr(fn, "__name__", "hook")),
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
    def hooks(self) -> tuple[Hook[Any], ...]:
        return tuple(self._hooks)

    async def _call(self, hook: Hook[Any], data: HookInput) -> Decision | None:
        """Run one hook under its timeout; errors and time-outs become a deny or nothing."""
        try:
            async with asyncio.timeout(hook.timeout_s):
                return await hook.answer(data)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            what = (
                f"timed out after {hook.timeout_s:g} s"
                if isinstance(exc, TimeoutError)
                else f"failed: {exc!r}"
            )
            await self._report(data, hook, "error", f"hook {hook.name} {what}")
            if hook.fail_closed:
                return Deny(f"hook {hook.name} {what}; denied because this hook fails closed")
            return None

    async def _report(
        self, data: HookInput, hook: Hook[Any], decision: HookVerdict, reason: str
    ) -> None:
        if self.bus is not None:
            await self.bus.publish(
                HookDecided(
                    task_id=data.ctx.task_id,
                    hook=hook.name,
                    event=data.event,
                    decision=decision,
                    reason=reason,
                    tool=_tool_of(data),
                )
            )

    def _matching(self, event: HookEventName, tool: str | None = None) -> list[Hook[Any]]:
        return [h for h in self._hooks if h.event == event and h.matches(tool)]

    async def pre_tool_use(
        self, ctx: HookContext, tool: str, tool_input: Mapping[str, Any]
    ) -> PreToolOutcome:
        current: Mapping[str, Any] = tool_input
        for hook in self._matching("PreToolUse", tool):
            data = PreToolUseInput(ctx=ctx, tool=tool, tool_input=current)
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

    async def decide(self, data: PreLLMCallInput) -> Allow | Deny:
        """Run gatekeeping hooks (``PreLLMCall``): the first deny wins.

        A :class:`CapOutput` lowers the request's ``max_tokens`` (never raises
        it); the hooks after it see the lowered request, and the returned
        ``Allow.request`` is what the caller must send.
        """
        capped = False
        for hook in self._matching(data.event):
            decision = await self._call(hook, data)
            if isinstance(decision, Deny | Ask):
                await self._report(data, hook, "deny", decision.reason)
                error = decision.error if isinstance(decision, Deny) else None
                return Deny(decision.reason, hook=hook.name, error=error)
            if isinstance(decision, CapOutput) and decision.max_tokens < data.request.max_tokens:
                request = dataclasses.replace(data.request, max_tokens=decision.max_tokens)
                data = dataclasses.replace(data, request=request)
                capped = True
                await self._report(data, hook, "rewrite", decision.reason)
        return Allow(request=data.request) if capped else ALLOW

    async def collect_context(self, data: UserPromptSubmitInput) -> list[str]:
        """Run ``UserPromptSubmit`` hooks and gather the context they add."""
        added: list[str] = []
        for hook in self._matching(data.event):
            decision = await self._call(hook, data)
            if isinstance(decision, AddContext) and decision.text:
                added.append(decision.text)
        return added

    async def notify(self, data: ObservedInput) -> None:
        """Run observer hooks (PostToolUse, PostLLMCall, Stop, TaskStart, TaskEnd)."""
        for hook in self._matching(data.event, _tool_of(data)):
            await self._call(hook, data)

    def extended(self, *hooks: Hook[Any]) -> HookPipeline:
        """A copy with task-scoped hooks added after the shared ones."""
        child = HookPipeline(self.bus, self.ask)
        child._hooks = [*self._hooks, *hooks]
        return child
