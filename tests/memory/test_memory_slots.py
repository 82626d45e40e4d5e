"""Slots: typed literals found in the steps, rebound at token boundaries, refused when unsafe."""

from __future__ import annotations

import pytest

from llmos.memory import Postcondition, Slot, Step
from llmos.memory.normalize import signature, tokenize
from llmos.memory.slots import bind, find_slots, substitute


def _slots(goal: str, *inputs: dict[str, object]) -> list[tuple[str, str, str]]:
    steps = tuple(Step(tool="Bash", input=dict(item)) for item in inputs)
    return [(s.name, s.type, s.value) for s in find_slots(goal, steps)]


def test_literals_used_verbatim_in_the_steps_become_typed_slots() -> None:
    goal = (
        "Fetch https://example.com/data.csv into data.csv, keep the first 10 rows, "
        "title it 'Q1 Sales' and call the function load_rows in a package named reports"
    )
    inputs = {
        "url": "https://example.com/data.csv",
        "file_path": "data.csv",
        "command": "head -n 10 data.csv",
        "content": "# Q1 Sales\ndef load_rows(): ...",
        "path": "reports/__init__.py",
    }
    assert _slots(goal, inputs) == [
        ("url1", "url", "https://example.com/data.csv"),
        ("path1", "path", "data.csv"),
        ("number1", "number", "10"),
        ("string1", "string", "Q1 Sales"),
        ("identifier1", "identifier", "load_rows"),
        ("identifier2", "identifier", "reports"),
    ]


def test_literals_absent_from_the_steps_are_not_slots() -> None:
    assert _slots("Count to 100 in out.txt", {"command": "seq 1000 > out.txt"}) == [
        ("path1", "path", "out.txt")
    ]
    assert _slots("Create mycalc.py", {"file_path": "calc.py"}) == []
    assert _slots("Use 10 workers", {"command": "run --workers 10.5"}) == []


def test_ordinary_words_are_never_slots_even_if_the_steps_use_them() -> None:
    assert _slots("Sort the names alphabetically", {"command": "sort names"}) == []


def _substituted(text: str, old: str, new: str, kind: str = "number") -> str:
    step = Step(tool="Bash", input={"command": text})
    slot = Slot(name="s", type=kind, value=old)  # type: ignore[arg-type]
    return substitute((step,), (slot,), {"s": new})[0].input["command"]


@pytest.mark.parametrize(
    ("text", "old", "new", "kind", "expected"),
    [
        ("seq 10 100 > x; echo 10", "10", "25", "number", "seq 25 100 > x; echo 25"),
        ("python3 x.py 10.5 10", "10", "7", "number", "python3 x.py 10.5 7"),
        (
            "cat calc.py mycalc.py calc.py.bak calc.pyc",
            "calc.py",
            "c.py",
            "path",
            "cat c.py mycalc.py calc.py.bak calc.pyc",
        ),
        (
            "mkdir -p notes/ && touch notes/todo.md",
            "notes/",
            "docs/",
            "path",
            "mkdir -p docs/ && touch docs/todo.md",
        ),
        (
            "import inventory; print(inventory.__version__)",
            "inventory",
            "billing",
            "identifier",
            "import billing; print(billing.__version__)",
        ),
    ],
)
def test_substitution_respects_token_boundaries(
    text: str, old: str, new: str, kind: str, expected: str
) -> None:
    assert _substituted(text, old, new, kind) == expected


def test_values_are_swapped_in_one_pass() -> None:
    step = Step(tool="Bash", input={"command": "cp a.txt b.txt"})
    slots = (
        Slot(name="p1", type="path", value="a.txt"),
        Slot(name="p2", type="path", value="b.txt"),
    )
    [swapped] = substitute((step,), slots, {"p1": "b.txt", "p2": "a.txt"})
    assert swapped.input == {"command": "cp b.txt a.txt"}


def test_postcondition_paths_follow_and_digests_are_no_longer_checked() -> None:
    step = Step(
        tool="Write",
        input={"file_path": "a.txt", "content": "hi"},
        postcondition=Postcondition(
            exit_code=0,
            output_digest="d",
            deterministic=True,
            files_written={"a.txt": "e"},
            files_read=("a.txt",),
        ),
    )
    [moved] = substitute((step,), (Slot(name="p", type="path", value="a.txt"),), {"p": "b.txt"})
    assert moved.postcondition == Postcondition(
        exit_code=0,
        output_digest=None,
        deterministic=False,
        files_written={"b.txt": ""},
        files_read=("b.txt",),
    )


def _bind(learned: str, goal: str, *steps: Step) -> tuple[dict[str, str], str | None] | None:
    slots = find_slots(learned, steps)
    result = bind(tokenize(learned), slots, tokenize(goal), steps)
    return None if result is None else (dict(result.bindings), result.problem)


WRITE_STACK = (
    Step(tool="Write", input={"file_path": "stack.py", "content": "class Stack: ..."}),
    Step(tool="Bash", input={"command": "python3 -c 'from stack import Stack'"}),
)


def test_a_goal_of_the_same_shape_binds_new_values() -> None:
    steps = (Step(tool="Bash", input={"command": "python3 fib.py 10 > out.txt"}),)
    assert _bind(
        "Print 10 Fibonacci numbers with fib.py", "print 25 fibonacci numbers with fib.py", *steps
    ) == ({"number1": "25"}, None)


def test_other_words_or_a_changed_fixed_literal_do_not_bind() -> None:
    steps = (Step(tool="Bash", input={"command": "python3 fib.py 10"}),)
    assert (
        _bind(
            "Print 10 Fibonacci numbers with fib.py", "Print 10 prime numbers with fib.py", *steps
        )
        is None
    )
    assert (
        _bind(
            "Print 10 numbers in 2024 with fib.py", "Print 10 numbers in 2025 with fib.py", *steps
        )
        is None
    )  # 2024 is not used by the steps: it is part of the task


@pytest.mark.parametrize(
    ("goal", "problem"),
    [
        ("Create stack.txt", "changes the file type of 'stack.py'"),
        ("Create stack/", "not the same kind of path"),
        ("Create ../stack.py", "leaves the working directory"),
        ("Create queue.py", "'stack' (from 'stack.py') is also used on its own in the steps"),
    ],
)
def test_unsafe_or_meaning_changing_values_are_refused(goal: str, problem: str) -> None:
    result = _bind("Create stack.py", goal, *WRITE_STACK)
    assert result is not None and result[1] is not None and problem in result[1]


def test_values_pasted_into_a_shell_command_must_be_plain_words() -> None:
    steps = (Step(tool="Bash", input={"command": "python3 check.py racecar"}),)
    assert _bind("Check 'racecar' with check.py", "Check 'level' with check.py", *steps) == (
        {"string1": "level"},
        None,
    )
    _, problem = _bind("Check 'racecar' with check.py", "Check 'a; rm -rf ~' with check.py", *steps)  # type: ignore[misc]
    assert problem == "'a; rm -rf ~' would be pasted into a shell command and is not a plain word"


def test_signature_ignores_case_spacing_and_punctuation_but_not_values_or_operators() -> None:
    assert signature("Create  a Python calculator in calc.py!") == signature(
        "create a python calculator, in calc.py"
    )
    assert signature("Write 'Hello' to a.txt") != signature("Write 'hello' to a.txt")
    assert signature("Compute 2 + 3") != signature("Compute 2 * 3")
    assert signature("Create calc.py") != signature("Create Calc.py")


def test_a_digit_used_in_several_places_is_not_rebound_by_guess() -> None:
    steps = (Step(tool="Bash", input={"command": "sort r.txt | head -n 1 | tail -1"}),)
    result = _bind("Show the top 1 line of r.txt", "Show the top 5 line of r.txt", *steps)
    assert result is not None
    assert result[1] == (
        "the digit 1 occurs 2 times in the steps; "
        "which of them the goal's value controls is a guess"
    )
