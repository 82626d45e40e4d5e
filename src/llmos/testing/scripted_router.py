"""A scripted backend for concurrent runs: turns chosen by agent name or by a pattern.

:class:`~llmos.backends.scripted.ScriptedBackend` plays one list of turns in
order, which is fine for one agent loop but not for subtasks running at the same
time: which subtask asks first is up to the scheduler. :class:`ScriptedRouter`
holds several routes; each request goes to the first route that matches it —
by ``BackendRequest.agent`` and/or a regular expression searched in the system
prompt and the first user message (the task's goal) — and still has turns left.
Each route plays its own turns in order, so every subtask gets its own
deterministic script whatever the interleaving.

Example:
    router = ScriptedRouter([
        Route(agent="orchestrator", turns=[{"text": plan_json}]),
        Route(pattern=r"\\[s1\\]", turns=[{"text": "facts"}]),
        Route(pattern=r"\\[s2\\]", fail="server down"),   # raises BackendError
    ])
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmos.backends.base import Backend, BackendEvent, BackendRequest
from llmos.backends.scripted import FunctionBackend, ScriptedTurn
from llmos.errors import BackendError, ScriptExhausted
from llmos.messages import UserMessage


@dataclass
class Route:
    """Turns for the requests that match: ``agent`` (exact) and ``pattern`` (regex) if given.

    ``fail`` makes every request this route serves raise a BackendError with that
    message (a model that keeps failing). ``name`` labels the route in errors and
    in :attr:`ScriptedRouter.served`.
    """

    turns: Sequence[ScriptedTurn | Mapping[str, Any]] = ()
    agent: str | None = None
    pattern: str | None = None
    fail: str | None = None
    name: str = ""
    played: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.agent is None and self.pattern is None:
            raise ValueError("a route needs an agent name, a pattern, or both")
        self.turns = [
            t if isinstance(t, ScriptedTurn) else ScriptedTurn.model_validate(t) for t in self.turns
        ]
        self._regex = re.compile(self.pattern) if self.pattern is not None else None
        self.name = self.name or self.agent or str(self.pattern)

    def matches(self, request: BackendRequest) -> bool:
        if self.agent is not None and request.agent != self.agent:
            return False
        return self._regex is None or bool(self._regex.search(routing_text(request)))

    @property
    def exhausted(self) -> bool:
        return self.fail is None and self.played >= len(self.turns)


def routing_text(request: BackendRequest) -> str:
    """What patterns are searched in: the system prompt and the first user message."""
    first = next((m.content for m in request.messages if isinstance(m, UserMessage)), "")
    return f"{request.system}\n{first}"


class ScriptedRouter(Backend):
    """Serves each request from the first matching route that has turns left.

    ``served`` lists the route name of every request in arrival order, so tests
    can assert which agent was called how often (and that a replay called none).
    """

    name = "scripted"
    estimated_usage = True

    def __init__(self, routes: Sequence[Route], *, model: str = "scripted") -> None:
        super().__init__(model)
        self.routes = list(routes)
        self.served: list[str] = []
        self._inner = FunctionBackend(self._turn, model=model)

    @property
    def requests(self) -> list[BackendRequest]:
        return self._inner.requests

    def _turn(self, request: BackendRequest) -> ScriptedTurn:
        matching = [route for route in self.routes if route.matches(request)]
        route = next((r for r in matching if not r.exhausted), None)
        if route is None:
            played = ", ".join(f"{r.name}: {r.played}/{len(r.turns)}" for r in matching)
            opening = routing_text(request).strip().replace("\n", " ")[:120]
            raise ScriptExhausted(
                f"no scripted route has a turn left for agent={request.agent!r}, "
                f"prompt {opening!r} (matching routes: {played or 'none'}); add a Route",
                backend=self.name,
            )
        self.served.append(route.name)
        if route.fail is not None:
            route.played += 1
            raise BackendError(route.fail, backend=self.name)
        turn = route.turns[route.played]
        route.played += 1
        assert isinstance(turn, ScriptedTurn)  # __post_init__ converted them
        return turn

    async def stream(self, request: BackendRequest) -> AsyncIterator[BackendEvent]:
        async for event in self._inner.stream(request):
            yield event
