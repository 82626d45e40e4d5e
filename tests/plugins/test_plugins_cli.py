"""``llmos tools``: every tool the model can be offered, with source and replayability."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import typer
from plugins_helpers import DEMO_SERVER, write
from typer.testing import CliRunner

from llmos.cli.tools import tools_command
from llmos.config import Settings

pytestmark = pytest.mark.skipif(
    "mcp" not in Settings.model_fields,
    reason="needs the [mcp] settings section in llmos.config (see the plugins report)",
)

PLUGIN = '''
    from llmos.plugins import tool


    @tool
    def word_count(text: str) -> int:
        """Count the words in a text."""
        return len(text.split())


    @tool(replayable=False)
    def send_page(message: str) -> str:
        """Page the person on call."""
        return "paged"
    '''


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("tools")(tools_command)
    return app


def configure(workspace: Path) -> None:
    write(workspace / "plugins" / "textkit.py", PLUGIN)
    write(workspace / "plugins" / "broken.py", "import nothing_of_that_name\n")
    (workspace / "llmos.toml").write_text(
        "[mcp.servers.demo]\n"
        f"command = {json.dumps(sys.executable)}\n"
        f"args = [{json.dumps(str(DEMO_SERVER))}]\n"
        "[mcp.servers.ghost]\n"
        'command = "/nonexistent/mcp-server"\n'
    )


def test_tools_json_lists_built_in_plugin_and_mcp_tools(workspace: Path):
    configure(workspace)
    result = CliRunner().invoke(cli(), ["--workspace", str(workspace), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {row["name"]: (row["source"], row["replayable"]) for row in rows}
    assert by_name["Bash"] == ("built-in", True)
    assert by_name["word_count"] == ("plugin:textkit", True)
    assert by_name["send_page"] == ("plugin:textkit", False)
    assert by_name["mcp__demo__add"] == ("mcp:demo", True)
    assert [row["description"] for row in rows if row["name"] == "mcp__demo__add"] == [
        "Add two integers."
    ]
    problems = result.stderr.splitlines()
    assert problems[0].startswith(f"skipped: {workspace / 'plugins' / 'broken.py'}: ")
    assert "ModuleNotFoundError: No module named 'nothing_of_that_name'" in problems[0]
    assert any(
        line.startswith("skipped: MCP server ghost: MCP server 'ghost'") for line in problems
    )


def test_tools_table_marks_non_replayable_tools(workspace: Path):
    write(workspace / "plugins" / "textkit.py", PLUGIN)
    result = CliRunner().invoke(cli(), ["--workspace", str(workspace)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    page = next(line for line in lines if "send_page" in line)
    count = next(line for line in lines if "word_count" in line)
    assert "plugin:textkit" in page and " no " in page
    assert "plugin:textkit" in count and " yes " in count
