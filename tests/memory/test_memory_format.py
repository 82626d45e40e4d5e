"""The trace file format: exact round trip for any content, clear errors for broken files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from memory_helpers import calculator_trace

from llmos.errors import TraceFormatError
from llmos.memory import (
    FORMAT_VERSION,
    Postcondition,
    Seal,
    Slot,
    Step,
    Trace,
    parse_trace,
    render_trace,
)
from llmos.messages import Usage

TRICKY = st.sampled_from(
    [
        "## Step 1 · Bash",
        "## Final answer",
        "---",
        "---\n",
        "```",
        "````json",
        "`",
        "\r\n",
        "\r",
        "  ",
        "\t",
        "\n\n",
        "# heading",
        "Input:",
        "Output:",
        "\x00",
        "\x1b[31m",
        "\u2028",
        "\ufeff",
        "é",
        "🙂",
        "\x85",
        "'",
        '"',
        "\\",
        "...",
        "- item",
        "key: value",
        "null",
        "~",
    ]
)
TEXT = st.lists(st.one_of(st.text(), TRICKY), max_size=6).map("".join)
JSON_SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(), TEXT, st.floats(allow_nan=False, allow_infinity=False)
)
JSON = st.recursive(
    JSON_SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)
YAML_TEXT = TEXT.filter(lambda s: not re.search(r"[\ud800-\udfff]", s))


@st.composite
def traces(draw: st.DrawFn) -> Trace:
    steps = tuple(
        Step(
            tool=draw(st.from_regex(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,20}", fullmatch=True)),
            input=draw(st.dictionaries(TEXT, JSON, max_size=4)),
            postcondition=Postcondition(
                is_error=draw(st.booleans()),
                exit_code=draw(st.none() | st.integers(-255, 255)),
                output_digest=draw(
                    st.none() | st.text("0123456789abcdef", min_size=64, max_size=64)
                ),
                deterministic=draw(st.booleans()),
                files_written=draw(st.dictionaries(TEXT, TEXT, max_size=2)),
                files_read=tuple(draw(st.lists(TEXT, max_size=2))),
            ),
            output=draw(TEXT),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
    return Trace(
        id=draw(st.from_regex(r"[0-9a-f]{12}", fullmatch=True)),
        goal=draw(YAML_TEXT),
        signature=draw(YAML_TEXT),
        slots=tuple(
            Slot(name=draw(YAML_TEXT), type="path", value=draw(YAML_TEXT))
            for _ in range(draw(st.integers(0, 2)))
        ),
        status=draw(st.sampled_from(["success", "failed", "untrusted"])),
        cost_usd=draw(st.floats(0, 100)),
        usage=Usage(input_tokens=draw(st.integers(0, 10**9)), output_tokens=3),
        use_count=draw(st.integers(0, 10**6)),
        parent=draw(st.none() | st.from_regex(r"[0-9a-f]{12}", fullmatch=True)),
        environment=draw(st.dictionaries(YAML_TEXT, YAML_TEXT, max_size=2)),
        injected=tuple(draw(st.lists(YAML_TEXT, max_size=2))),
        steps=steps,
        final_answer=draw(TEXT),
        integrity=draw(st.none() | st.builds(Seal, digest=YAML_TEXT, hmac=YAML_TEXT)),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces())
def test_any_trace_survives_render_and_parse_exactly(trace: Trace) -> None:
    text = render_trace(trace)
    assert parse_trace(text) == trace
    assert text.encode("utf-8")  # the file is valid UTF-8, whatever it holds


def test_a_rendered_trace_is_readable_markdown() -> None:
    text = render_trace(calculator_trace(id="0123456789ab"))
    assert text.startswith("---\nversion: 1\nid: 0123456789ab\n")
    assert "\n# Create a Python calculator in calc.py\n" in text
    assert '\n## Step 1 · Write\n\nInput:\n\n```json\n{\n  "file_path": "calc.py",' in text
    assert "\n## Step 2 · Bash\n" in text
    assert text.endswith("\n## Final answer\n\n```text\ncalc.py prints 5.\n```\n")


def test_unknown_front_matter_fields_are_kept_and_written_back() -> None:
    text = render_trace(calculator_trace(id="0123456789ab"))
    edited = text.replace("injected: []\n", "injected: []\nreviewer: ada\nratings: [4, 5]\n", 1)
    trace = parse_trace(edited)
    assert trace.extra == {"reviewer": "ada", "ratings": [4, 5]}
    again = render_trace(trace)
    assert "reviewer: ada\n" in again and parse_trace(again).extra == trace.extra


def test_windows_line_endings_from_a_checkout_are_read() -> None:
    trace = calculator_trace(id="0123456789ab")
    assert parse_trace(render_trace(trace).replace("\n", "\r\n")) == trace


def test_hand_added_prose_between_blocks_is_ignored() -> None:
    trace = calculator_trace(id="0123456789ab")
    text = render_trace(trace).replace(
        "\nPostcondition:\n", "\nChecked by hand.\n\nPostcondition:\n"
    )
    assert parse_trace(text) == trace


GOOD = render_trace(calculator_trace(id="0123456789ab"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "does not start with a '---' front-matter line"),
        ("hello\n", "does not start with a '---' front-matter line"),
        ("---\nversion: 1\nid: x\n", "no closing '---' line"),
        ("---\n[unclosed\n---\n", "not valid YAML"),
        ("---\n- a list\n---\n", "should be a mapping"),
        (GOOD.replace("id: 0123456789ab\n", ""), "the front matter has no 'id'"),
        (GOOD.replace("use_count: 0", "use_count: many"), "'use_count' should be an integer"),
        (GOOD.replace("status: success", "status: great"), "status 'great' is not one of"),
        (GOOD.replace("version: 1", f"version: {FORMAT_VERSION + 1}"), "written by a newer llmos"),
        (GOOD[: GOOD.index("## Final answer")], "no '## Final answer' section"),
        (GOOD[: GOOD.index('"command"')], "never closed (truncated file?)"),
        (GOOD.replace("## Step 2 · Bash", "## Step 3 · Bash"), "expected step 2"),
        (GOOD.replace("## Step 2 · Bash", "## Notes"), "unknown section '## Notes'"),
        (GOOD.replace('"python3 calc.py"', "python3 calc.py"), "invalid JSON"),
        (GOOD.replace('"exit_code": 0', '"exit_code": "zero"'), "exit_code should be an integer"),
        (GOOD.replace("\nInput:\n", "\nInputs:\n", 1), "a block outside a labelled step field"),
        (GOOD.replace("\x0a---\x0a", "\x0a---\x00\x0a", 1), "NUL bytes"),
    ],
)
def test_broken_text_is_a_format_error_naming_the_file(text: str, problem: str) -> None:
    path = Path("memory/traces/0123456789ab.md")
    with pytest.raises(TraceFormatError, match=re.escape(problem)) as caught:
        parse_trace(text, path)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")


def test_a_tool_name_that_cannot_be_a_heading_is_refused_when_writing() -> None:
    trace = calculator_trace(steps=(Step(tool="two words", input={}),))
    with pytest.raises(TraceFormatError, match="tool name 'two words'"):
        render_trace(trace)


def test_the_judged_outcome_round_trips_and_old_files_without_it_still_load():
    from dataclasses import replace

    from llmos.outcome import FailureKind

    failed = replace(
        calculator_trace(),
        status="failed",
        failure=FailureKind.MAX_TOKENS,
        verdict="the model's answer was cut at max_tokens (4096)",
    )
    text = render_trace(failed)
    assert "outcome:\n  kind: max-tokens\n  message: the model's answer was cut" in text
    back = parse_trace(text)
    assert back == failed and back.outcome.kind is FailureKind.MAX_TOKENS
    unverified = replace(calculator_trace(), status="unverified", verdict="could not be checked")
    assert parse_trace(render_trace(unverified)).outcome.status == "unverified"
    old = render_trace(calculator_trace())  # a success written before outcomes: no field
    assert "outcome:" not in old and parse_trace(old).failure is None
    bad = text.replace("kind: max-tokens", "kind: sleepy")
    with pytest.raises(TraceFormatError, match=re.escape("outcome.kind 'sleepy' is not one of")):
        parse_trace(bad)
