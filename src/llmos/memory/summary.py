"""One trace as listings show it: ``traces list --json``, the HTTP API, the MCP server."""

from __future__ import annotations

from pydantic import BaseModel, Field

from llmos.memory.index import IndexEntry
from llmos.memory.integrity import TrustState


class TraceSummary(BaseModel):
    """A trace in the library, with its replay history."""

    id: str
    goal: str
    status: str = Field(
        description="success (judged done: replayed), unverified (finished, not checkable: "
        "guidance only), failed (advice only), or untrusted (imported, not verified)"
    )
    failure_kind: str | None = Field(None, description="why it failed (max-turns, rejected …)")
    backend: str = Field("", description="the backend that learned it")
    model: str = Field("", description="the model that learned it")
    uses: int
    replay_successes: int
    replay_failures: int
    success_rate: float | None = Field(description="replay successes / replays; null if never")
    cost_usd: float = Field(description="what learning the trace cost")
    saved_usd: float = Field(description="what its replays saved so far")
    created: str
    last_used: str | None
    parent: str | None = Field(description="the trace this one heals or versions")
    trust: TrustState | None = Field(
        default=None,
        description="trusted (sealed here, unchanged), unsigned, modified or foreign; "
        "only trusted traces are followed; null if not checked",
    )
    library: str = Field(
        "own",
        description="own (the user's or a project's) or starter (shipped with llmos, read-only)",
    )

    @classmethod
    def of(
        cls, entry: IndexEntry, trust: TrustState | None = None, library: str = "own"
    ) -> TraceSummary:
        replays = entry.replay_successes + entry.replay_failures
        return cls(
            id=entry.id,
            goal=entry.goal,
            status=entry.status,
            failure_kind=entry.failure,
            backend=entry.backend,
            model=entry.model,
            uses=entry.use_count,
            replay_successes=entry.replay_successes,
            replay_failures=entry.replay_failures,
            success_rate=entry.replay_successes / replays if replays else None,
            cost_usd=entry.cost_usd,
            saved_usd=entry.saved_usd,
            created=entry.created,
            last_used=entry.last_used,
            parent=entry.parent,
            trust=trust,
            library=library,
        )
