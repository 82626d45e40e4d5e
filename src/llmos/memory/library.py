"""The trace stores a task looks in: its project's first, then the workspace's, then the
starter library shipped with llmos (read-only, :mod:`llmos.memory.starter`).

A project's traces win: a goal that its project's memory can follow is never
sent to the workspace's, nor the workspace's to the starter library; new
traces are saved in the project (else the workspace).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from llmos.errors import ConfigError, TraceNotFound
from llmos.memory.index import IndexEntry
from llmos.memory.integrity import TraceSigner
from llmos.memory.markdown_store import LayeredStores
from llmos.memory.matching import Matcher, MatchResult, SimilarTrace, UntrustedTrace
from llmos.memory.store import ProblemCallback, TraceStore
from llmos.memory.trace import Trace
from llmos.outcome import FailureKind, Outcome
from llmos.workspace import Workspace

if TYPE_CHECKING:
    from llmos.projects import Project


class TraceLibrary(LayeredStores[TraceStore]):
    """Layered trace stores, searched in order; the first one receives new traces."""

    noun = "trace"

    def __init__(self, stores: Sequence[TraceStore]) -> None:
        super().__init__(stores)
        self._matchers = tuple(Matcher(store) for store in self.stores)

    @classmethod
    def for_workspace(
        cls, workspace: Workspace, project: Project | None = None, *, starter: bool = False
    ) -> TraceLibrary:
        """The workspace's trace store, with the project's in front when there is one, and
        the starter library last when ``starter`` (``[library] starter``).

        The own stores are sealed and checked with the workspace's key (one key per
        installation); the starter library is checked with its shipped public key, and
        its counts are kept in the workspace's memory, never in the package.
        """
        signer = TraceSigner(workspace.trace_key)
        stores = [TraceStore.for_memory(workspace.memory, signer)]
        if project is not None:
            stores.insert(0, TraceStore.for_memory(project.memory, signer))
        if starter:
            from llmos.memory.starter import StarterStore

            stores.append(StarterStore(workspace.memory / "starter"))
        return cls(stores)

    def ensure_fresh(self, on_error: ProblemCallback | None = None) -> None:
        """Bring every store's index up to date; ``on_error`` hears of each broken file."""
        for store in self.stores:
            store.ensure_fresh(on_error)

    def match(
        self,
        goal: str,
        *,
        follow_threshold: float = 0.9,
        guide_threshold: float = 0.75,
        max_failures: int = 3,
    ) -> MatchResult:
        """The first store's follow, else the next's; else the most confident result.

        Untrusted traces met in any store on the way are all named in the result.
        """
        best: MatchResult | None = None
        untrusted: list[UntrustedTrace] = []
        for matcher in self._matchers:
            result = matcher.match(
                goal,
                follow_threshold=follow_threshold,
                guide_threshold=guide_threshold,
                max_failures=max_failures,
            )
            untrusted.extend(result.untrusted)
            if result.decision == "follow":
                return replace(result, untrusted=tuple(untrusted))
            if best is None or result.confidence > best.confidence:
                best = result
        assert best is not None  # there is at least one store
        return replace(best, untrusted=tuple(untrusted))

    def similar(
        self, goal: str, *, include_failed: bool = True, limit: int = 5
    ) -> list[SimilarTrace]:
        found = [
            near
            for matcher in self._matchers
            for near in matcher.similar(goal, include_failed=include_failed, limit=limit)
        ]
        found.sort(key=lambda near: near.score, reverse=True)
        return found[:limit]

    def entries(self) -> list[IndexEntry]:
        """Every trace's index entry, the project's first."""
        return [entry for store in self.stores for entry in store.entries()]

    def entry(self, trace_id: str) -> IndexEntry:
        """The index entry of one trace (full id or unique prefix)."""
        store = self.store_of(trace_id)
        full_id = store.resolve(trace_id)
        store.ensure_fresh()
        found = store.index.get(full_id)
        if found is None:
            raise TraceNotFound(f"no trace {trace_id!r}; `llmos traces list` shows the ids")
        return found

    def reject(self, trace_id: str, reason: str) -> Trace:
        """A person says the result was wrong: the trace is failed and never followed again.

        Its versions (traces healed from it) become unverified: they may guide, not be followed.
        """
        reason = " ".join(reason.split())
        if not reason:
            raise ConfigError("say why the result was wrong: --reason TEXT", key="reason")
        store = self.store_of(trace_id)
        full_id = store.resolve(trace_id)
        rejected = store.set_outcome(
            full_id, Outcome.failed(FailureKind.REJECTED, f"rejected: {reason}")
        )
        # Its versions (heals of it) inherited what was wrong: they only guide from now on.
        note = f"a version of trace {full_id}, which a person rejected: {reason}"
        for other in self.stores:
            for entry in other.entries():
                if entry.parent == full_id and entry.status == "success":
                    other.set_outcome(entry.id, Outcome.unverified(note), only_if="success")
        return rejected

    def promote(self, trace_id: str, note: str = "") -> Trace:
        """A person vouches for an unverified (or rejected) trace: it becomes replayable."""
        store = self.store_of(trace_id)
        full_id = store.resolve(trace_id)
        if store.load(full_id).status == "untrusted":
            raise ConfigError(
                f"trace {full_id} is an untrusted import; `llmos traces verify {full_id}` "
                "replays it in a scratch folder and trusts it if it holds",
                key="trace",
            )
        words = " ".join(note.split())
        return store.set_outcome(
            full_id, Outcome.success(f"promoted by a person{': ' + words if words else ''}")
        )
