"""Recording a finished tool call as a trace step."""

from __future__ import annotations

import hashlib

from llmos.memory import Postcondition, recorded_step
from llmos.tools.base import ToolResult


def test_a_read_is_deterministic_and_a_bash_call_is_not() -> None:
    read = recorded_step("Read", {"file_path": "a.txt"},
                         ToolResult(content="shown", output="1\thello\n", files_read=("a.txt",)))
    assert read.postcondition == Postcondition(
        output_digest=hashlib.sha256(b"1\thello\n").hexdigest(), deterministic=True,
        files_read=("a.txt",))
    assert read.output == "1\thello\n"
    bash = recorded_step("Bash", {"command": "date > now.txt"},
                         ToolResult(content="", exit_code=0, files_written={"now.txt": "ab"}))
    assert (bash.postcondition.deterministic, bash.postcondition.exit_code) == (False, 0)
    assert bash.postcondition.files_written == {"now.txt": "ab"}


def test_long_output_is_kept_as_a_bounded_excerpt_but_digested_whole() -> None:
    step = recorded_step("Bash", {"command": "seq 100000"},
                         ToolResult(content="", output="x" * 5000, exit_code=0), excerpt_chars=10)
    assert step.output == "xxxxxxxxxx\n… (4990 more characters)"
    assert step.postcondition.output_digest == hashlib.sha256(b"x" * 5000).hexdigest()


def test_an_error_result_is_recorded_as_such() -> None:
    step = recorded_step("Write", {"file_path": "/etc/x"}, ToolResult.error("Access denied"))
    assert step.postcondition.is_error and step.output == "Access denied"


def test_the_memory_package_exports_a_sorted_public_surface() -> None:
    import llmos.memory as memory

    assert memory.__all__ == sorted(memory.__all__)
    assert all(hasattr(memory, name) for name in memory.__all__)
