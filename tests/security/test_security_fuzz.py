"""The policy never crashes: whatever the text, the answer is a verdict."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmos.security import judge_command

TOKENS = [
    "rm",
    "-rf",
    "~",
    "/",
    "$HOME",
    "'",
    '"',
    "\\",
    "$(",
    ")",
    "`",
    "|",
    "&&",
    "||",
    ";",
    "&",
    "<(",
    ">(",
    ">",
    ">>",
    "<",
    "<<EOF\n",
    "\nEOF",
    "<<<",
    "{",
    "}",
    "(",
    "(())",
    "$((",
    "[[",
    "]]",
    "bash",
    "-c",
    "eval",
    "sudo",
    "xargs",
    "find",
    "-exec",
    "{}",
    "\\;",
    "curl",
    "sh",
    "python3",
    "-c",
    "f()",
    "*",
    "?",
    "$IFS",
    "${X:-/}",
    "$'\\x72'",
    "#",
    "\n",
    "for",
    "in",
    "do",
    "done",
    "if",
    "then",
    "fi",
    "case",
    "esac",
    "=",
    "x=1",
    "\u202e",
    "\x00",
    " ",
]


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.text(max_size=80))
def test_any_text_gets_a_verdict(layout, text: str) -> None:
    verdict = judge_command(text, cwd=layout.cwd, workspace=layout.workspace, home=layout.home)
    assert verdict.decision in ("allow", "deny", "ask")
    assert isinstance(verdict.reason, str) and verdict.reason


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join))
def test_shell_shaped_text_gets_a_verdict(layout, text: str) -> None:
    verdict = judge_command(text, cwd=layout.cwd, workspace=layout.workspace, home=layout.home)
    assert verdict.decision in ("allow", "deny", "ask")
    if "rm -rf ~" in text and verdict.decision == "allow":
        # the only way to allow this text is for it to be data (quoted, commented, echoed)
        assert any(mark in text for mark in ("'", '"', "#", "\\", "<<", "echo", "EOF"))
