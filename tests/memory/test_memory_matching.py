"""Goal → trace decisions: exact, template, paraphrase, guards, and who may be followed."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from memory_helpers import calculator_trace

from llmos.memory import Matcher, Step, TraceStore
from llmos.memory.normalize import tokenize


@pytest.fixture
def matcher(store: TraceStore) -> Matcher:
    return Matcher(store)


def test_the_same_goal_up_to_case_spacing_and_punctuation_follows_with_full_confidence(
    store: TraceStore, matcher: Matcher
) -> None:
    saved = store.save(calculator_trace())
    result = matcher.match("  create a PYTHON calculator, in calc.py!  ")
    assert (result.decision, result.trace, result.confidence) == ("follow", saved, 1.0)
    assert result.steps == saved.steps
    assert result.bindings == {}


def test_other_slot_values_follow_with_the_values_substituted(
    store: TraceStore, matcher: Matcher
) -> None:
    saved = store.save(calculator_trace())
    result = matcher.match("Create a Python calculator in calculator.py")
    assert result.decision == "follow" and result.trace == saved
    assert 0.9 <= result.confidence < 1.0
    assert result.bindings == {"path1": "calculator.py"}
    assert [dict(step.input) for step in result.steps] == [
        {"file_path": "calculator.py", "content": "print(2 + 3)\n"},
        {"command": "python3 calculator.py"},
    ]
    assert result.steps[0].postcondition.files_written == {"calculator.py": ""}
    assert result.steps[1].postcondition.files_read == ("calculator.py",)


@pytest.mark.parametrize(
    ("goal", "why"),
    [
        ("Delete the Python calculator in calc.py", "a different action: delete"),
        ("Do not create a Python calculator in calc.py", "a negation on one side only"),
        ("Create a Python calculator in calc.py and add tests", "a different action: test"),
        ("Create a Python stopwatch in calc.py", "different words: +stopwatch, -calculator"),
        ("Create a Python calculator in calc.js", "changes the file type of 'calc.py'"),
    ],
)
def test_near_misses_stay_below_the_follow_threshold(
    store: TraceStore, matcher: Matcher, goal: str, why: str
) -> None:
    store.save(calculator_trace())
    result = matcher.match(goal)
    assert result.decision != "follow"
    assert result.confidence < 0.9
    assert why in result.reason


def test_a_near_trace_in_the_middle_band_guides(store: TraceStore, matcher: Matcher) -> None:
    saved = store.save(calculator_trace())
    result = matcher.match("Create a Python calculator in calc.js")
    assert (result.decision, result.trace, result.confidence) == ("guide", saved, 0.85)
    assert (
        matcher.match("Create a Python calculator in calc.js", guide_threshold=0.9).decision
        == "learn"
    )


def test_unrelated_goals_learn_from_scratch(store: TraceStore, matcher: Matcher) -> None:
    store.save(calculator_trace())
    result = matcher.match("Summarize the plot of Hamlet in three sentences")
    assert (result.decision, result.trace, result.steps) == ("learn", None, ())
    assert matcher.match("anything at all").decision == "learn"


def test_the_follow_threshold_is_the_callers(store: TraceStore, matcher: Matcher) -> None:
    store.save(calculator_trace())
    assert (
        matcher.match("Create a Python calculator in c.py", follow_threshold=0.97).decision
        == "guide"
    )


def test_a_trace_that_failed_too_often_drops_out_and_a_healed_version_takes_over(
    store: TraceStore, matcher: Matcher
) -> None:
    old = store.save(calculator_trace())
    for _ in range(2):
        store.record_use(old.id, success=False)
    assert matcher.match(old.goal, max_failures=3).trace.id == old.id  # type: ignore[union-attr]
    retired = matcher.match(old.goal, max_failures=2)
    assert retired.decision == "learn"
    assert f"{old.id} would match (1.00) but its replays failed 2 times (limit 2)" in retired.reason

    healed = store.save(
        calculator_trace(
            parent=old.id,
            steps=(Step(tool="Write", input={"file_path": "calc.py", "content": "print(5)\n"}),),
        )
    )
    result = matcher.match(old.goal, max_failures=2)
    assert (result.decision, result.trace.id) == ("follow", healed.id)  # type: ignore[union-attr]
    assert matcher.match(old.goal, max_failures=3).trace.id == healed.id  # type: ignore[union-attr]


def test_untrusted_and_failed_traces_are_never_followed_nor_used_as_guides(
    store: TraceStore, matcher: Matcher
) -> None:
    store.save(calculator_trace(status="untrusted"))
    store.save(calculator_trace(status="failed"))
    result = matcher.match("Create a Python calculator in calc.py")
    assert (result.decision, result.trace) == ("learn", None)
    assert "imported and not verified yet" in result.reason
    assert "it records a failed run" in result.reason


def test_match_json_names_the_trace_and_the_steps_to_replay(
    store: TraceStore, matcher: Matcher
) -> None:
    saved = store.save(calculator_trace())
    data = matcher.match("create a python calculator in calculator.py").to_json()
    assert data == {
        "goal": "create a python calculator in calculator.py",
        "decision": "follow",
        "trace_id": saved.id,
        "trace_goal": saved.goal,
        "confidence": 0.95,
        "bindings": {"path1": "calculator.py"},
        "steps": [
            {"tool": "Write", "input": {"file_path": "calculator.py", "content": "print(2 + 3)\n"}},
            {"tool": "Bash", "input": {"command": "python3 calculator.py"}},
        ],
        "reason": "the same task with other values (path1='calculator.py')",
        "untrusted": [],
    }


def test_a_paraphrase_with_the_same_terms_in_the_same_order_follows(
    store: TraceStore, matcher: Matcher
) -> None:
    saved = store.save(calculator_trace())
    result = matcher.match("Write a python calculator to calc.py")
    assert (result.decision, result.trace, result.confidence) == ("follow", saved, 0.92)
    reordered = matcher.match("Make index.py, then a calculator in calc.py")
    assert reordered.decision != "follow"


def test_a_trace_removed_behind_the_index_is_not_returned(
    store: TraceStore, matcher: Matcher
) -> None:
    saved = store.save(calculator_trace())
    store.record_use(saved.id, success=True)  # ranks above the other copy
    other = replace(calculator_trace(), id="ffffffffffff")
    store.save(other)
    (store.root / f"{saved.id}.md").unlink()
    store.index.set_stamp(str(store.root.stat().st_mtime_ns))  # pretend the index is current
    result = matcher.match(saved.goal)
    assert result.trace is not None and result.trace.id == other.id
    assert store.index.get(saved.id) is None


@pytest.mark.parametrize(
    ("learned", "goal"),
    [
        ("Copy a.txt to b.txt", "Copy a.txt and b.txt"),
        ("Convert 100 degrees Celsius to Fahrenheit", "Convert 100 degrees Fahrenheit to Celsius"),
        ("Compute (2 + 3) * 4 into out.txt", "Compute 2 + 3 * 4 into out.txt"),
        ("Keep the first 10 lines of log.txt", "Write the first 10 lines of log.txt"),
    ],
)
def test_same_words_in_other_roles_are_not_the_same_request(
    store: TraceStore, matcher: Matcher, learned: str, goal: str
) -> None:
    store.save(calculator_trace(goal=learned))
    assert matcher.match(goal).decision != "follow"


def test_a_goal_without_words_never_matches(store: TraceStore, matcher: Matcher) -> None:
    store.save(calculator_trace(goal="???"))
    result = matcher.match("!!!")
    assert (result.decision, result.reason) == ("learn", "the goal has no words to match")


def test_a_retired_exact_match_lets_a_template_match_of_another_trace_follow(
    store: TraceStore, matcher: Matcher
) -> None:
    retired = store.save(calculator_trace(goal="Create a Python calculator in c.py"))
    store.record_use(retired.id, success=False)
    other = store.save(calculator_trace())
    result = matcher.match("Create a Python calculator in c.py", max_failures=1)
    assert (result.decision, result.trace.id) == ("follow", other.id)  # type: ignore[union-attr]
    assert result.bindings == {"path1": "c.py"}


@settings(max_examples=60, deadline=None)
@given(goal=st.text(st.characters(exclude_categories=["Cs"]), max_size=80))
def test_any_saved_goal_is_followed_when_asked_again_and_nothing_crashes(goal: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = TraceStore.for_memory(Path(folder) / "memory")
        saved = store.save(calculator_trace(goal=goal))
        result = Matcher(store).match(goal)
        if tokenize(goal):
            assert (result.decision, result.trace, result.confidence) == ("follow", saved, 1.0)
        else:
            assert result.decision == "learn"
        store.index.close()
