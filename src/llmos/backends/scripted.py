"""Backends for tests, demos and benchmarks: a JSON script, or a Python function.

They speak the same contract as the real backends and report token usage
estimated from the text they emit, so the cost code paths run for real.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmos.backends.base import (
    Backend,
    BackendEvent,
    BackendRequest,
    TextDelta,
    ToolCallReady,
    TurnFinished,
    estimate_tokens,
    request_tokens,
)
from llmos.errors import ConfigError, ScriptExhausted
from llmos.messages import ToolCall, Usage


class ScriptedToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class ScriptedTurn(BaseModel):
    """One assistant turn: text, tool calls, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str = ""
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)
    #: Why the turn ended, in Anthropic's words; ``max_tokens`` plays an answer cut short.
    stop_reason: Literal["end_turn", "tool_use", "max_tokens"] | None = None


def load_script(path: Path) -> list[ScriptedTurn]:
    """Read a script file, with errors that point at the file and the turn."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"script file {path} does not exist", key="script") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"script file {path} is not valid JSON: {exc}", key="script") from exc
    if not isinstance(raw, list):
        raise ConfigError(
            f"script file {path} must hold a JSON list of turns, got {type(raw).__name__}",
            key="script",
        )
    turns = []
    for number, item in enumerate(raw, start=1):
        try:
            turns.append(ScriptedTurn.model_validate(item))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "turn"
            raise ConfigError(
                f"script file {path}, turn {number}: {where}: {problem['msg']}", key="script"
            ) from exc
    return turns


async def _emit(turn: ScriptedTurn, request: BackendRequest, model: str, count: int):
    for piece in re.findall(r"\s*\S+\s*|\s+", turn.text):
        yield TextDelta(text=piece)
    output = turn.text
    for index, call in enumerate(turn.tool_calls):
        output += json.dumps(call.input)
        call_id = f"call_{count}_{index}"
        yield ToolCallReady(call=ToolCall(id=call_id, name=call.name, input=call.input))
    # A real model stops at max_tokens; so does the usage it reports.
    output_tokens = min(estimate_tokens(output), request.max_tokens)
    usage = Usage(input_tokens=request_tokens(request), output_tokens=output_tokens)
    stop_reason = turn.stop_reason or ("tool_use" if turn.tool_calls else "end_turn")
    yield TurnFinished(usage=usage, model=model, stop_reason=stop_reason)


class ScriptedBackend(Backend):
    """Plays scripted turns in order; running out of turns is a typed error.

    Example:
        backend = ScriptedBackend([{"tool_calls": [{"name": "Write", "input": {...}}]},
                                   {"text": "done"}])
    """

    name = "scripted"
    estimated_usage = True
    summarizes_context = False

    def __init__(
        self,
        turns: Sequence[ScriptedTurn | Mapping[str, Any]],
        *,
        model: str = "scripted",
        source: str = "the script",
        delay_s: float = 0.0,
    ) -> None:
        super().__init__(model)
        self.turns = [
            t if isinstance(t, ScriptedTurn) else ScriptedTurn.model_validate(t) for t in turns
        ]
        self.requests: list[BackendRequest] = []
        self.source = source
        self.delay_s = delay_s

    @classmethod
    def from_file(cls, path: Path, *, model: str | None = None) -> ScriptedBackend:
        return cls(load_script(path), model=model or "scripted", source=str(path))

    async def stream(self, request: BackendRequest) -> AsyncIterator[BackendEvent]:
        self.requests.append(request)
        count = len(self.requests)
        if count > len(self.turns):
            raise ScriptExhausted(
                f"{self.source} has {len(self.turns)} turn(s) and the agent asked for turn "
                f'{count}; add a final turn with only "text" to end the run',
                backend=self.name,
            )
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        async for event in _emit(self.turns[count - 1], request, self.model, count):
            yield event


TurnFunction = Callable[
    [BackendRequest], ScriptedTurn | Mapping[str, Any] | Awaitable[ScriptedTurn | Mapping[str, Any]]
]


@dataclass
class FunctionBackend(Backend):
    """Asks a Python function for each turn, for tests that react to the prompt."""

    fn: TurnFunction
    model: str = "function"
    requests: list[BackendRequest] = field(default_factory=list)
    name = "function"
    estimated_usage = True
    summarizes_context = False

    async def stream(self, request: BackendRequest) -> AsyncIterator[BackendEvent]:
        self.requests.append(request)
        outcome = self.fn(request)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        turn = (
            outcome if isinstance(outcome, ScriptedTurn) else ScriptedTurn.model_validate(outcome)
        )
        async for event in _emit(turn, request, self.model, len(self.requests)):
            yield event
