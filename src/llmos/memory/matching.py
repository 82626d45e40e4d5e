"""Goal → trace: which learned trace, if any, replaying would do what is asked.

Four lookups, from the surest to the loosest, each an indexed query:

1. the normalised signature (case, spacing, punctuation): confidence 1.0;
2. the template: the same words with other literal values, bound to the
   trace's slots and checked (same file type, safe to paste): 0.95;
3. the bag of terms: the same words up to synonyms, in the same order: 0.92;
4. full-text retrieval plus :func:`~llmos.memory.similarity.compare`, whose
   guards keep every near-miss below the follow threshold.

Only successful (judged) traces that have not failed too often are followed;
unverified ones only guide the Learner; imported (untrusted), failed and
rejected traces are never followed. Among equal matches the best record of
judged replays wins, not the newest trace. Nor is a trace whose seal does not
check (:mod:`llmos.memory.integrity`) followed or offered as guidance; the
result names it (:class:`UntrustedTrace`) so the user can see which file and
why. A wrong Follower run is the worst failure llmos can have, so every doubt
resolves to a miss.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmos.memory.index import IndexEntry
from llmos.memory.integrity import Trust, TrustState
from llmos.memory.normalize import Token, shape, signature, tokenize
from llmos.memory.similarity import STOPWORDS, Terms, compare, terms_of
from llmos.memory.slots import bind, iter_strings, substitute
from llmos.memory.store import TraceStore
from llmos.memory.trace import Step, Trace

Decision = Literal["follow", "guide", "learn"]

EXACT = 1.0
TEMPLATE = 0.95
#: A template match whose binding is unsafe: close enough to guide, never to follow.
UNSAFE_BINDING = 0.85
RETRIEVED = 20
#: Same-shape traces whose files are read to check a binding, at most (best-ranked first).
TEMPLATES_LOADED = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class UntrustedTrace:
    """A trace that would have been used for a goal but whose seal does not check."""

    trace_id: str
    file: Path
    trust: Trust
    #: The library it is in: ``own`` (the user's or a project's) or ``starter`` (shipped).
    scope: str = "own"

    @property
    def state(self) -> TrustState:
        return self.trust.state

    def message(self) -> str:
        """One line for people: which file, why, and what to do."""
        if self.scope == "starter":
            return (
                f"not using starter trace {self.trace_id} ({self.file}): {self.trust.reason}; "
                "reinstall llmos to restore it, or switch the starter library off with "
                "`[library] starter = false`"
            )
        return (
            f"not using trace {self.trace_id} ({self.file}): {self.trust.reason}; review it "
            f"with `llmos traces show {self.trace_id}` and re-enable it with "
            f"`llmos traces trust {self.trace_id}`"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "file": str(self.file),
            "state": self.trust.state,
            "reason": self.trust.reason,
            "scope": self.scope,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchResult:
    """The decision for one goal, with the trace and the steps a replay would run."""

    goal: str
    decision: Decision
    trace: Trace | None
    confidence: float
    bindings: Mapping[str, str] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    reason: str = ""
    #: Traces that would have been followed or used as guidance but are not trusted.
    untrusted: tuple[UntrustedTrace, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The ``llmos traces match --json`` object."""
        return {
            "goal": self.goal,
            "decision": self.decision,
            "trace_id": self.trace.id if self.trace else None,
            "trace_goal": self.trace.goal if self.trace else None,
            "confidence": round(self.confidence, 4),
            "bindings": dict(self.bindings),
            "steps": [{"tool": step.tool, "input": dict(step.input)} for step in self.steps],
            "reason": self.reason,
            "untrusted": [item.to_json() for item in self.untrusted],
        }


@dataclass(frozen=True, slots=True)
class SimilarTrace:
    """A trace near a goal, for the Learner's context (failed ones included on request)."""

    trace: Trace
    score: float
    reason: str


@dataclass(frozen=True, slots=True)
class _Candidate:
    entry: IndexEntry
    confidence: float
    reason: str
    bindings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Query:
    goal: str
    tokens: list[Token]
    terms: Terms

    @classmethod
    def of(cls, goal: str) -> _Query:
        tokens = tokenize(goal)
        return cls(goal, tokens, terms_of(tokens))


class Matcher:
    """Finds the trace to follow (or to guide with) for a goal.

    Example:
        >>> matcher = Matcher(TraceStore.for_memory(workspace.memory))
        >>> result = matcher.match("Create a Python calculator in calculator.py")
        >>> result.decision, result.bindings   # ('follow', {'path1': 'calculator.py'})
    """

    def __init__(self, store: TraceStore) -> None:
        self.store = store

    def match(
        self,
        goal: str,
        *,
        follow_threshold: float = 0.9,
        guide_threshold: float = 0.75,
        max_failures: int = 3,
    ) -> MatchResult:
        """Decide follow / guide / learn for ``goal``; executes nothing.

        ``max_failures``: a trace whose replays failed this many times is not followed.
        """
        query = _Query.of(goal)
        if not query.tokens:
            return MatchResult(
                goal=goal,
                decision="learn",
                trace=None,
                confidence=0.0,
                reason="the goal has no words to match",
            )
        self.store.ensure_fresh()
        for _attempt in range(3):
            candidates = self._candidates(query, follow_threshold, max_failures)
            result = self._decide(
                query, candidates, follow_threshold, guide_threshold, max_failures
            )
            if result is not None:
                return result
        # The library kept changing under us (files edited while matching): be safe.
        return MatchResult(
            goal=goal,
            decision="learn",
            trace=None,
            confidence=0.0,
            reason="the trace library changed while matching; learning instead",
        )

    def _candidates(
        self, query: _Query, follow_threshold: float, max_failures: int
    ) -> list[_Candidate]:
        index = self.store.index
        found: dict[str, _Candidate] = {}

        def offer(candidate: _Candidate) -> None:
            best = found.get(candidate.entry.id)
            if best is None or candidate.confidence > best.confidence:
                found[candidate.entry.id] = candidate

        def settled() -> bool:
            return any(
                c.confidence >= follow_threshold and _followable(c.entry, max_failures)
                for c in found.values()
            )

        for entry in index.by_signature(signature(query.tokens)):
            offer(_Candidate(entry, EXACT, "the same goal up to case, spacing and punctuation"))
        shaped = [] if settled() else index.by_shape(shape(query.tokens))
        loaded = 0
        for entry in sorted(shaped, key=_entry_rank, reverse=True):
            if (
                entry.id in found
                or bind(tokenize(entry.goal), entry.slots, query.tokens, ()) is None
            ):
                continue
            candidate = self._template(query, entry)
            loaded += 1
            if candidate is not None:
                offer(candidate)
                if candidate.confidence == TEMPLATE and _followable(entry, max_failures):
                    break  # the best-ranked safe binding; the others are no better
            if loaded == TEMPLATES_LOADED:
                break
        for entry in [] if settled() else index.by_bag(query.terms.bag):
            similarity = compare(query.terms, terms_of(tokenize(entry.goal)))
            offer(_Candidate(entry, similarity.score, similarity.reason))
        if not settled():
            for entry in index.search(query.terms.search_terms, RETRIEVED):
                if entry.id not in found:
                    similarity = compare(query.terms, terms_of(tokenize(entry.goal)))
                    offer(_Candidate(entry, similarity.score, similarity.reason))
        return sorted(found.values(), key=_rank, reverse=True)

    def _template(self, query: _Query, entry: IndexEntry) -> _Candidate | None:
        """Bind the trace's slots (as in its file) from the goal; None if they do not bind."""
        trace = self.store.refresh_entry(entry)
        if trace is None:
            return None
        result = bind(tokenize(trace.goal), trace.slots, query.tokens, trace.steps)
        if result is None:
            return None
        if result.problem:
            return _Candidate(
                entry, UNSAFE_BINDING, f"template match, but {result.problem}", result.bindings
            )
        values = ", ".join(f"{name}={value!r}" for name, value in result.bindings.items())
        return _Candidate(
            entry, TEMPLATE, f"the same task with other values ({values})", result.bindings
        )

    def _decide(
        self,
        query: _Query,
        candidates: list[_Candidate],
        follow_threshold: float,
        guide_threshold: float,
        max_failures: int,
    ) -> MatchResult | None:
        """The decision, or None when a candidate's file changed and matching must rerun."""
        notes: list[str] = []
        unverified: tuple[_Candidate, Trace] | None = None
        untrusted: list[UntrustedTrace] = []
        for candidate in candidates:
            entry = candidate.entry
            guides_only = entry.status == "unverified"
            if candidate.confidence >= follow_threshold and not _followable(entry, max_failures):
                notes.append(
                    f"{entry.id} would match ({candidate.confidence:.2f}) but "
                    f"{_why_not(entry, max_failures)}"
                )
            if candidate.confidence < guide_threshold or entry.status not in _GUIDES:
                continue
            if (
                candidate.confidence >= follow_threshold
                and not guides_only
                and not _followable(entry, max_failures)
            ):
                continue
            trace = self.store.refresh_entry(entry)
            if (
                trace is None
                or trace.goal != entry.goal
                or trace.status != entry.status
                or trace.replay_failures != entry.replay_failures
            ):
                return None
            trust = self.store.trust_of(trace)
            if not trust.trusted:
                untrusted.append(
                    UntrustedTrace(
                        trace_id=trace.id,
                        file=self.store.root / entry.file,
                        trust=trust,
                        scope=self.store.scope,
                    )
                )
                notes.append(
                    f"{entry.id} would match ({candidate.confidence:.2f}) but is not "
                    f"trusted: {trust.reason}"
                )
                continue
            if guides_only:  # guidance only: a success further down may still be followed
                unverified = unverified or (candidate, trace)
                continue
            if TEMPLATE > candidate.confidence >= follow_threshold:
                candidate = _literal_words_guard(query.goal, trace, candidate)
            decision: Decision = "follow" if candidate.confidence >= follow_threshold else "guide"
            return self._result(query, decision, candidate, trace, notes, untrusted)
        if unverified is not None:
            return self._result(query, "guide", *unverified, notes, untrusted)
        best = candidates[0] if candidates else None
        reason = (
            f"nearest: {best.entry.id} ({best.confidence:.2f}): {best.reason}"
            if best
            else "no similar trace"
        )
        return MatchResult(
            goal=query.goal,
            decision="learn",
            trace=None,
            confidence=best.confidence if best else 0.0,
            reason="; ".join([reason, *notes]),
            untrusted=tuple(untrusted),
        )

    @staticmethod
    def _result(
        query: _Query,
        decision: Decision,
        candidate: _Candidate,
        trace: Trace,
        notes: list[str],
        untrusted: list[UntrustedTrace],
    ) -> MatchResult:
        steps = substitute(trace.steps, trace.slots, candidate.bindings)
        return MatchResult(
            goal=query.goal,
            decision=decision,
            trace=trace,
            confidence=candidate.confidence,
            bindings=candidate.bindings,
            steps=steps,
            reason="; ".join([candidate.reason, *notes]),
            untrusted=tuple(untrusted),
        )

    def similar(
        self, goal: str, *, include_failed: bool = True, limit: int = 5
    ) -> list[SimilarTrace]:
        """Trusted traces near ``goal``, best first, failed ones too if asked (Learner context)."""
        self.store.ensure_fresh()
        query = _Query.of(goal)
        allowed = {"success", "unverified", "failed"} if include_failed else {"success"}
        scored = []
        for entry in self.store.index.search(query.terms.search_terms, RETRIEVED):
            if entry.status in allowed:
                similarity = compare(query.terms, terms_of(tokenize(entry.goal)))
                scored.append((similarity.score, similarity.reason, entry))
        scored.sort(key=lambda item: item[0], reverse=True)
        result = []
        for score, reason, entry in scored:
            trace = self.store.refresh_entry(entry)
            if trace is not None and self.store.trust_of(trace).trusted:
                result.append(SimilarTrace(trace, score, reason))
            if len(result) == limit:
                break
        return result


def _literal_words_guard(goal: str, trace: Trace, candidate: _Candidate) -> _Candidate:
    """A paraphrase is not the same task if a word it changed is used verbatim by the steps.

    "a Makefile with a check target" reads like "… a test target" (check ~ test),
    but the trace runs ``make test``: the learned word is a value, not a figure of speech.
    """
    theirs = _content_words(trace.goal)
    mine = _content_words(goal)
    changed = [w for w in sorted(theirs) if not any(_same_root(w, other) for other in mine)]
    for word in changed:
        pattern = re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])", re.IGNORECASE)
        for step in trace.steps:
            if any(pattern.search(text) for _, text in iter_strings(step.input)):
                return _Candidate(
                    candidate.entry,
                    UNSAFE_BINDING,
                    f"{candidate.reason}, but the steps use {word!r} verbatim and the goal "
                    "says something else",
                    candidate.bindings,
                )
    return candidate


def _content_words(goal: str) -> set[str]:
    return {
        t.text.lower()
        for t in tokenize(goal)
        if t.text.isalpha() and len(t.text) > 2 and t.text.lower() not in STOPWORDS
    }


def _same_root(a: str, b: str) -> bool:
    """Inflections of one word ("title", "titled"; "print", "prints") count as the same."""
    short, long = sorted((a, b), key=len)
    return long.startswith(short[: max(4, len(short) - 1)])


def _followable(entry: IndexEntry, max_failures: int) -> bool:
    return entry.status == "success" and entry.replay_failures < max_failures


def _why_not(entry: IndexEntry, max_failures: int) -> str:
    if entry.status == "untrusted":
        return (
            f"it is imported and not verified yet (`llmos traces verify {entry.id}`, or "
            f"`llmos traces trust {entry.id}` after reading its steps)"
        )
    if entry.status == "unverified":
        return (
            f"its run could not be checked, so it only guides (`llmos traces promote "
            f"{entry.id}` after checking its result makes it replayable)"
        )
    if entry.status == "failed" and entry.failure == "rejected":
        return "a person rejected its result"
    if entry.status == "failed":
        return f"it records a failed run{f' ({entry.failure})' if entry.failure else ''}"
    return f"its replays failed {entry.replay_failures} times (limit {max_failures})"


#: Statuses whose steps may guide the Learner (a failed run is advice, given separately).
_GUIDES = frozenset({"success", "unverified"})


def _entry_rank(entry: IndexEntry) -> tuple[bool, float, int, str]:
    """Followable first, then the best record of judged replays, then more of them, newer.

    The record is the success rate with one success and one failure assumed
    (a new trace: 0.5), so ten good replays and one bad outrank none at all,
    and one bad replay with no good one ranks below a new trace.
    """
    record = (entry.replay_successes + 1) / (entry.replay_successes + entry.replay_failures + 2)
    return (entry.status == "success", record, entry.replay_successes, entry.created)


def _rank(candidate: _Candidate) -> tuple[float, tuple[bool, float, int, str]]:
    return (candidate.confidence, _entry_rank(candidate.entry))
