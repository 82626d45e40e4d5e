"""The goal sets: learned goals become traces; every probe gets the decision it must.

``goals_dev.jsonl`` is the shared starter set, ``goals_extra.jsonl`` our own
probes (other tasks, URLs, extensions, swapped values, unsafe values), so the
matcher is checked on goals it was not written against.
"""

from __future__ import annotations

from typing import Any

import pytest
from memory_helpers import learned_trace, load_goal_set

from llmos.memory import Matcher, TraceStore
from llmos.memory.slots import iter_strings

SETS = ["goals_dev.jsonl", "goals_extra.jsonl"]
#: Paraphrases followed today; the share may grow, it must not fall back.
SHOULD_FOLLOW_FLOOR = {"goals_dev.jsonl": 0.25, "goals_extra.jsonl": 0.5}


def _library(store: TraceStore, name: str) -> tuple[Matcher, dict[str, str], list[dict[str, Any]]]:
    learned, probes = load_goal_set(name)
    names = {store.save(learned_trace(line)).id: line["id"] for line in learned}
    return Matcher(store), names, probes


def _replayed_strings(result: Any) -> list[str]:
    return [text for step in result.steps for _, text in iter_strings(step.input)]


@pytest.mark.parametrize("name", SETS)
def test_must_follow_probes_follow_the_right_trace_with_the_new_values(
    store: TraceStore, name: str
) -> None:
    matcher, names, probes = _library(store, name)
    failures = []
    for probe in (p for p in probes if p["expect"] == "must-follow"):
        result = matcher.match(probe["goal"])
        texts = _replayed_strings(result)
        missing = [s for s in probe["replay_contains"] if not any(s in t for t in texts)]
        stale = [s for s in probe["replay_excludes"] if any(s in t for t in texts)]
        followed = names.get(result.trace.id) if result.trace else None
        if result.decision != "follow" or followed != probe["trace"] or missing or stale:
            failures.append(
                f"{probe['goal']!r}: {result.decision} {followed} "
                f"missing={missing} stale={stale} ({result.reason})"
            )
        else:
            assert result.confidence >= 0.9
    assert failures == []


@pytest.mark.parametrize("name", SETS)
def test_must_not_follow_probes_never_follow(store: TraceStore, name: str) -> None:
    matcher, names, probes = _library(store, name)
    false_follows = []
    for probe in (p for p in probes if p["expect"] == "must-not-follow"):
        result = matcher.match(probe["goal"])
        if result.decision == "follow":
            false_follows.append(
                f"{probe['kind']}: {probe['goal']!r} followed "
                f"{names[result.trace.id]} ({result.reason})"
            )  # type: ignore[union-attr]
        assert result.confidence < 0.9 or result.decision != "follow"
    assert false_follows == []


@pytest.mark.parametrize("name", SETS)
def test_share_of_should_follow_paraphrases_that_follow(
    store: TraceStore, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    matcher, names, probes = _library(store, name)
    paraphrases = [p for p in probes if p["expect"] == "should-follow"]
    followed = 0
    for probe in paraphrases:
        result = matcher.match(probe["goal"])
        if result.decision == "follow":
            assert names[result.trace.id] == probe["trace"], probe["goal"]  # type: ignore[union-attr]
            followed += 1
    share = followed / len(paraphrases)
    with capsys.disabled():
        print(f"\n{name}: {followed}/{len(paraphrases)} should-follow probes follow ({share:.0%})")
    assert share >= SHOULD_FOLLOW_FLOOR[name]
