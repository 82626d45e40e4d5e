"""The acceptance check: criteria derived from a goal, and verdicts against a folder.

The corpus has two parts: ``acceptance_dev.jsonl`` (the rules were tuned on it)
and ``acceptance_heldout.jsonl`` (written before the rules were tuned, and not
tuned on since). Each line is a goal and the criteria a careful person reads in it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos.modes.acceptance import Action, check, derive
from llmos.modes.judge import judge, step_failure
from llmos.outcome import FailureKind, OutcomeStatus

DATA = Path(__file__).resolve().parents[1] / "data"


def corpus(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


def agreement(rows: list[dict]) -> tuple[int, list[str]]:
    misses = []
    for row in rows:
        expected = {key: sorted(row[key]) for key in ("files", "contents", "commands")}
        got = derive(row["goal"]).to_json()
        if got != expected:
            misses.append(f"{row['goal']!r}: got {got}, expected {expected}")
    return len(rows) - len(misses), misses


def test_the_dev_corpus_is_read_exactly():
    rows = corpus("acceptance_dev.jsonl")
    right, misses = agreement(rows)
    assert right == len(rows), "\n".join(misses)


def test_the_held_out_corpus_is_read_at_least_nine_times_in_ten():
    """28 of 30 when first measured, before any tuning; 29 of 30 now (see BENCHMARKS.md)."""
    rows = corpus("acceptance_heldout.jsonl")
    right, misses = agreement(rows)
    assert right / len(rows) >= 0.9, "\n".join(misses)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def wrote(path: str, content: str = "x") -> Action:
    return Action(tool="Write", input={"file_path": path, "content": content}, ok=True)


def test_a_file_the_goal_asks_for_must_exist_and_be_written_by_the_run(tmp_path: Path):
    criteria = derive("Create a file hello.txt that says hello")
    missing = check(criteria, tmp_path, [])
    assert missing.verdict == "failed" and "hello.txt does not exist" in missing.reason
    write(tmp_path / "hello.txt", "Hello, world\n")
    untouched = check(criteria, tmp_path, [])  # it was there before: this run did nothing
    assert untouched.verdict == "failed" and "no successful step" in untouched.reason
    assert check(criteria, tmp_path, [wrote("hello.txt")]).verdict == "passed"


def test_loose_content_words_only_make_a_run_unverified(tmp_path: Path):
    write(tmp_path / "hello.txt", "good day\n")
    result = check(derive("Create hello.txt that says hello"), tmp_path, [wrote("hello.txt")])
    assert result.verdict == "undecided" and "'hello' is not in hello.txt" in result.reason


def test_quoted_content_must_be_in_the_file(tmp_path: Path):
    write(tmp_path / "out.txt", "something else\n")
    result = check(derive("Write 'hi there' to out.txt"), tmp_path, [wrote("out.txt")])
    assert result.verdict == "failed" and "'hi there' is not in out.txt" in result.reason


def test_a_file_to_delete_must_be_gone(tmp_path: Path):
    write(tmp_path / "old.log", "x")
    assert check(derive("Delete old.log"), tmp_path, []).verdict == "failed"
    (tmp_path / "old.log").unlink()
    assert check(derive("Delete old.log"), tmp_path, []).verdict == "passed"


def test_a_command_in_backticks_must_have_exited_zero(tmp_path: Path):
    write(tmp_path / "a.py", "")
    goal = "Create a.py and run `python a.py`"
    run = Action(tool="Bash", input={"command": "python a.py"}, ok=False, exit_code=1)
    failed = check(derive(goal), tmp_path, [wrote("a.py"), run])
    assert failed.verdict == "failed" and "`python a.py` did not succeed (exit 1)" in failed.reason
    ok = Action(tool="Bash", input={"command": "python a.py"}, ok=True, exit_code=0)
    assert check(derive(goal), tmp_path, [wrote("a.py"), run, ok]).verdict == "passed"


def test_run_it_with_nothing_run_fails(tmp_path: Path):
    write(tmp_path / "fib.py", "")
    result = check(derive("Write fib.py and run it"), tmp_path, [wrote("fib.py")])
    assert result.verdict == "failed" and "nothing was run" in result.reason


def test_a_goal_that_names_nothing_cannot_be_decided(tmp_path: Path):
    result = check(derive("Write a haiku about autumn"), tmp_path, [])
    assert result.verdict == "undecided" and "names nothing the check can verify" in result.reason


def test_a_folder_must_exist(tmp_path: Path):
    mkdir = Action(tool="Bash", input={"command": "mkdir docs"}, ok=True, exit_code=0)
    assert check(derive("Create a folder named docs"), tmp_path, [mkdir]).verdict == "failed"
    (tmp_path / "docs").mkdir()
    assert check(derive("Create a folder named docs"), tmp_path, [mkdir]).verdict == "passed"


# ------------------------------------------------------------------ the judge


def test_the_judge_fails_a_run_whose_only_write_failed(tmp_path: Path):
    failed = Action(tool="Write", input={"file_path": "a.txt"}, ok=False, output="disk full")
    verdict = judge("Create a.txt", stopped=None, actions=[failed], cwd=tmp_path)
    assert (verdict.status, verdict.kind) == (OutcomeStatus.FAILED, FailureKind.STEP_FAILED)
    assert "every step of the run failed" in verdict.message


def test_a_failed_write_redone_later_is_not_a_failure():
    first = Action(tool="Write", input={"file_path": "a.txt"}, ok=False)
    again = Action(tool="Write", input={"file_path": "a.txt"}, ok=True)
    look = Action(tool="Read", input={"file_path": "a.txt"}, ok=True)
    assert step_failure([first, again, look]) is None
    other = Action(tool="Write", input={"file_path": "b.txt"}, ok=True)
    problem = step_failure([first, other])
    assert problem is not None and "a failed step was never redone" in problem.message


def test_a_failed_look_is_information_not_a_failure():
    look = Action(tool="Read", input={"file_path": "a.txt"}, ok=False)
    write_it = Action(tool="Write", input={"file_path": "a.txt"}, ok=True)
    assert step_failure([look, write_it]) is None


def test_a_denied_last_step_is_a_policy_failure():
    denied = Action(tool="Bash", input={"command": "rm -rf /"}, ok=False, denied=True)
    fine = Action(tool="Read", input={"file_path": "a"}, ok=True)
    problem = step_failure([fine, denied])
    assert problem is not None and problem.kind is FailureKind.POLICY


def test_a_heal_that_did_nothing_is_failed(tmp_path: Path):
    write(tmp_path / "a.txt", "x")
    replayed = [wrote("a.txt")]
    verdict = judge("Create a.txt", stopped=None, actions=replayed, cwd=tmp_path, own_actions=[])
    assert verdict.kind is FailureKind.STEP_FAILED and "heal made no successful" in verdict.message


@pytest.mark.parametrize("kind", [FailureKind.MAX_TOKENS, FailureKind.MAX_TURNS, FailureKind.LOOP])
def test_a_run_that_did_not_end_with_an_answer_keeps_its_stop(tmp_path: Path, kind: FailureKind):
    from llmos.outcome import Outcome

    stop = Outcome.failed(kind, "stopped")
    assert judge("Create a.txt", stopped=stop, actions=[wrote("a.txt")], cwd=tmp_path) == stop
