"""The backend contract: messages and tool schemas in, streamed output out.

A backend streams :data:`BackendEvent`s for one model turn: text deltas, then
complete tool calls (deltas assembled by the backend), then exactly one
:class:`TurnFinished` carrying the real token usage. The agent loop in
:mod:`llmos.modes.learner` drives every backend the same way.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from llmos.messages import (
    AssistantMessage,
    Message,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)
from llmos.tools.base import ToolSpec

#: Seconds to reach a model server, or start the Claude Code CLI (``connect_timeout``):
#: a server that is down or a machine that is offline fails in seconds, not minutes.
CONNECT_TIMEOUT_S = 8.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendRequest:
    """One model call: the system prompt, the conversation and the tools offered."""

    system: str
    messages: Sequence[Message]
    tools: Sequence[ToolSpec] = ()
    max_tokens: int = 4096
    agent: str | None = None  # the agent this call serves (for scripted selection)


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDelta:
    text: str
    kind: Literal["text-delta"] = "text-delta"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallReady:
    call: ToolCall
    kind: Literal["tool-call-ready"] = "tool-call-ready"


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnFinished:
    usage: Usage
    model: str
    stop_reason: str = "end_turn"
    kind: Literal["turn-finished"] = "turn-finished"


BackendEvent = TextDelta | ToolCallReady | TurnFinished


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendInfo:
    """How a backend describes itself in ``llmos providers`` and traces."""

    name: str
    model: str
    available: bool = True
    detail: str = ""
    extras: tuple[str, ...] = field(default_factory=tuple)


class Backend(ABC):
    """An LLM behind the one interface.

    Contract: :meth:`stream` yields zero or more ``TextDelta``, zero or more
    ``ToolCallReady`` (each with a complete, parsed input), and ends with
    exactly one ``TurnFinished``. Failures raise a
    :class:`~llmos.errors.BackendError` subclass with an actionable message;
    transient ones (429, 5xx) are retried inside the backend first.
    """

    name: ClassVar[str]
    #: True when usage is estimated rather than reported by a server.
    estimated_usage: ClassVar[bool] = False
    #: Context window in tokens, used by the loop to keep the conversation in bounds.
    context_window: int = 200_000
    #: Whether old turns are summarised by a call to this backend when the window fills
    #: (else they are dropped with a note): worth it on real models, not on fakes.
    summarizes_context: ClassVar[bool] = True

    def __init__(self, model: str) -> None:
        self.model = model

    @abstractmethod
    def stream(self, request: BackendRequest) -> AsyncIterator[BackendEvent]:
        """Stream one assistant turn for ``request``."""

    async def count_tokens(self, request: BackendRequest) -> int:
        """How many tokens the prompt of ``request`` is, as the budget prices it.

        Never less than the truth: a backend whose provider counts (Anthropic's
        ``count_tokens`` endpoint) asks it; the rest, and any failure to count,
        use :func:`request_token_bound`.
        """
        return request_token_bound(request)

    async def aclose(self) -> None:
        """Release connections, processes or model memory."""


class PromptCount:
    """One request's prompt, counted by its backend at most once, when first asked.

    The budget hooks of a call share it, so a call costs at most one count,
    however many hooks price it (and none when no hook does).
    """

    __slots__ = ("_backend", "_request", "_tokens")

    def __init__(self, backend: Backend, request: BackendRequest) -> None:
        self._backend = backend
        self._request = request
        self._tokens: int | None = None

    async def tokens(self) -> int:
        if self._tokens is None:
            self._tokens = await self._backend.count_tokens(self._request)
        return self._tokens


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (about four characters a token) for budgets and fakes."""
    return max(1, (len(text) + 3) // 4) if text else 0


@dataclass(frozen=True, kw_only=True)
class AgentRun:
    """Everything a self-driving backend needs to run one task's whole loop.

    ``hooks`` and ``hook_ctx`` must be called for every tool call (PreToolUse
    before, PostToolUse after with a :class:`~llmos.tools.base.ToolResult`) —
    that is how the trace is recorded — and ``publish`` receives the events.
    """

    goal: str
    system: str
    cwd: str
    tools: Sequence[str]
    max_turns: int
    hooks: object  # llmos.hooks.pipeline.HookPipeline (kept loose to avoid an import cycle)
    hook_ctx: object  # llmos.hooks.pipeline.HookContext
    publish: object  # async callable taking an llmos.events.Event
    agents: Sequence[object] = ()  # llmos agent definitions, passed to the SDK


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentOutcome:
    text: str
    usage: Usage
    cost_usd: float
    success: bool
    model: str
    turns: int = 0
    error: str | None = None


class AgentBackend(ABC):
    """A backend that runs the agent loop itself (the Claude Agent SDK).

    llmos attaches through the backend's own hook mechanism: every tool call
    still passes llmos's :class:`~llmos.hooks.pipeline.HookPipeline`.
    """

    name: ClassVar[str]

    def __init__(self, model: str) -> None:
        self.model = model

    @abstractmethod
    async def run_agent(self, run: AgentRun) -> AgentOutcome:
        """Run the task to its end and report usage and cost."""

    async def aclose(self) -> None:
        """Release the client (a warm CLI process, for instance)."""


def request_tokens(request: BackendRequest) -> int:
    """Estimated prompt size of a request: system, messages and tool schemas."""
    return estimate_tokens(_request_text(request))


def request_token_bound(request: BackendRequest) -> int:
    """A prompt size the request cannot exceed with any BPE tokenizer: its UTF-8 bytes.

    Every token of a byte-level BPE (Claude's, GPT's, Llama's) stands for at
    least one byte, so the byte count bounds the token count from above, for
    any text: 40,000 characters of Chinese are ~120,000 bytes and ~45,000
    tokens, where four characters a token guesses 10,000. The budget prices a
    call with this bound, so a call it lets through cannot cost more than it
    checked for.
    """
    return len(_request_text(request).encode("utf-8", "surrogatepass"))


def _request_text(request: BackendRequest) -> str:
    parts = [request.system]
    for message in request.messages:
        match message:
            case UserMessage(content=content) | ToolResultMessage(content=content):
                parts.append(content)
            case AssistantMessage(text=text, tool_calls=calls):
                parts.append(text)
                parts.extend(json.dumps(dict(c.input)) for c in calls)
    parts.extend(json.dumps(dict(t.input_schema)) + t.description for t in request.tools)
    return "".join(parts)
