"""The built-in set: Claude Code names and schemas, and bad input turned into results."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import llmos.tools
from llmos.tools import builtin_tools, default_registry
from llmos.tools.base import Tool, ToolContext, ToolRegistry, ToolResult

RunTool = Callable[..., Awaitable[ToolResult]]

# The input fields of the Claude Code tools: a trace from any backend replays here.
CLAUDE_CODE_FIELDS = {
    "Read": ({"file_path"}, {"offset", "limit"}),
    "Write": ({"file_path", "content"}, set()),
    "Edit": ({"file_path", "old_string", "new_string"}, {"replace_all"}),
    "Bash": ({"command"}, {"timeout", "description"}),
    "Glob": ({"pattern"}, {"path"}),
    "Grep": (
        {"pattern"},
        {
            "path",
            "glob",
            "type",
            "output_mode",
            "-i",
            "-n",
            "-A",
            "-B",
            "-C",
            "head_limit",
            "multiline",
        },
    ),
    "LS": ({"path"}, {"ignore"}),
    "WebFetch": ({"url", "prompt"}, set()),
}


def test_the_registry_holds_every_builtin_tool_once() -> None:
    assert default_registry().names() == list(CLAUDE_CODE_FIELDS)
    assert [tool.name for tool in builtin_tools()] == list(CLAUDE_CODE_FIELDS)
    assert builtin_tools()[0] is not builtin_tools()[0]  # fresh instances each time


def test_a_lazy_tool_is_built_on_first_lookup_once_and_conflicts_like_any() -> None:
    registry = default_registry()
    built: list[str] = []

    def make() -> Tool:
        built.append("Echo")
        return _Echo()

    registry.register_lazy("Echo", make)
    assert "Echo" in registry and built == []
    with pytest.raises(ValueError, match="already registered"):
        registry.register(_Echo())
    echo = registry.get("Echo")
    assert echo is registry.get("Echo") and built == ["Echo"]
    assert registry.subset(["Write", "Echo"]).names() == ["Write", "Echo"]
    assert [tool.name for tool in registry] == [*CLAUDE_CODE_FIELDS, "Echo"]


def test_a_lazy_tool_that_builds_under_another_name_is_refused() -> None:
    registry = ToolRegistry()
    registry.register_lazy("Echo", _Other)
    with pytest.raises(ValueError, match="registered as 'Echo' is named 'Other'"):
        registry.get("Echo")


class _Echo(Tool):
    name = "Echo"
    description = "a tool for the registry tests"

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        return ToolResult(content=self.name)


class _Other(_Echo):
    name = "Other"


@pytest.mark.parametrize("name", list(CLAUDE_CODE_FIELDS))
def test_schemas_match_claude_code(name: str) -> None:
    required, optional = CLAUDE_CODE_FIELDS[name]
    spec = default_registry().specs([name])[0]
    schema = spec.input_schema
    assert set(schema["properties"]) == required | optional
    assert set(schema.get("required", [])) == required
    assert len(spec.description) > 80
    for field, prop in schema["properties"].items():
        assert len(prop.get("description", "")) > 10, f"{name}.{field} lacks a description"
        assert "anyOf" not in prop, f"{name}.{field}: optional fields are plain types"
        assert prop.get("default", "unset") is not None


def test_public_names_are_sorted_and_exist() -> None:
    assert llmos.tools.__all__ == sorted(llmos.tools.__all__)
    for name in llmos.tools.__all__:
        assert hasattr(llmos.tools, name)


@pytest.mark.parametrize(
    ("name", "tool_input", "message"),
    [
        (
            "Read",
            {"file_path": 12},
            "Invalid input for Read: file_path: Input should be a valid string",
        ),
        ("Read", {}, "Invalid input for Read: file_path: Field required"),
        (
            "Read",
            {"file_path": "a", "limit": 0},
            "Invalid input for Read: limit: Input should be greater than 0",
        ),
        ("Write", {"file_path": "a"}, "Invalid input for Write: content: Field required"),
        (
            "Edit",
            {"file_path": "a", "old_string": "x", "new_string": "y", "replace_all": "maybe"},
            "Invalid input for Edit: replace_all: Input should be a valid boolean, "
            "unable to interpret input",
        ),
        (
            "Bash",
            {"command": "true", "timeout": -5},
            "Invalid input for Bash: timeout: Input should be greater than 0",
        ),
        (
            "Bash",
            {"command": "true", "timeout": 700_000},
            "Invalid input for Bash: timeout: Input should be less than or equal to 600000",
        ),
        (
            "Grep",
            {"pattern": "x", "-A": "two"},
            "Invalid input for Grep: -A: Input should be a valid integer, "
            "unable to parse string as an integer",
        ),
        (
            "Grep",
            {"pattern": "x", "output_mode": "lines"},
            "Invalid input for Grep: output_mode: Input should be 'content', "
            "'files_with_matches' or 'count'",
        ),
        (
            "LS",
            {"path": ".", "ignore": "*.pyc"},
            "Invalid input for LS: ignore: Input should be a valid list",
        ),
        (
            "Nope",
            {},
            "Unknown tool 'Nope'. Available tools: Bash, Edit, Glob, Grep, LS, Read, WebFetch, "
            "Write.",
        ),
    ],
)
async def test_bad_input_becomes_an_error_result(
    run_tool: RunTool, name: str, tool_input: dict[str, Any], message: str
) -> None:
    result = await run_tool(name, tool_input)
    assert result.is_error
    assert result.content == message


async def test_grep_accepts_the_dash_names_and_nulls(run_tool: RunTool, cwd: Path) -> None:
    (cwd / "a.txt").write_text("Hello\n")
    result = await run_tool(
        "Grep",
        {"pattern": "hello", "-i": True, "-A": None, "path": None, "output_mode": "content"},
    )
    assert result.content == "a.txt:1:Hello"


async def test_an_empty_path_is_an_error(run_tool: RunTool) -> None:
    result = await run_tool("Read", {"file_path": ""})
    assert result.is_error
    assert result.content == "The path is empty."
