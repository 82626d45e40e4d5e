"""Loading plugin tools and user hooks from workspace files and entry points."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugins_helpers import write

from llmos.hooks.pipeline import HookContext, HookPipeline
from llmos.plugins import PluginConflictError, load_plugins, load_user_hooks
from llmos.tools import default_registry
from llmos.tools.base import ToolContext, ToolRegistry
from llmos.workspace import Workspace

WEATHER_PLUGIN = '''
    import asyncio
    from typing import Annotated

    from llmos.plugins import tool


    @tool
    def forecast(city: Annotated[str, "the city"], days: int = 1) -> str:
        """Tomorrow's weather."""
        return f"{city}: sunny for {days} day(s)"


    @tool
    async def slow_double(value: int) -> int:
        """Double a number, slowly."""
        await asyncio.sleep(0)
        return value * 2


    @tool(replayable=False)
    def send_alert(message: str) -> str:
        """Page the person on call (an effect outside the workspace)."""
        return "paged: " + message
    '''


def hook_ctx(space: Workspace) -> HookContext:
    return HookContext(task_id="t-1", goal="g", cwd=space.root.parent, workspace=space.root)


async def test_a_plugin_file_registers_its_tools_with_schemas_from_type_hints(
    space: Workspace, tool_ctx: ToolContext
):
    write(space.plugins / "weather.py", WEATHER_PLUGIN)
    registry = default_registry()
    report = load_plugins(space, registry, entry_points=False)
    assert report.loaded == ("forecast", "slow_double", "send_alert")
    assert report.ok
    forecast = registry.get("forecast")
    assert forecast is not None and forecast.source == "plugin:weather"
    assert forecast.input_schema() == {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "city": {"type": "string", "description": "the city"},
            "days": {"type": "integer", "default": 1},
        },
        "required": ["city"],
    }
    assert [(t.name, t.replayable) for t in registry if t.source == "plugin:weather"] == [
        ("forecast", True),
        ("slow_double", True),
        ("send_alert", False),
    ]
    assert (await registry.execute("forecast", {"city": "Oslo"}, tool_ctx)).content == (
        "Oslo: sunny for 1 day(s)"
    )
    assert (await registry.execute("slow_double", {"value": 21}, tool_ctx)).content == "42"
    assert "forecast" in [spec.name for spec in registry.specs()]


def test_broken_files_are_reported_with_path_and_error_and_skipped(space: Workspace):
    write(space.plugins / "weather.py", WEATHER_PLUGIN)
    syntax = write(space.plugins / "a_syntax.py", "def oops(:\n    pass\n")
    raises = write(
        space.plugins / "b_raises.py",
        """
        import os

        TOKEN = os.environ["SURELY_NOT_SET_ANYWHERE"]
        """,
    )
    no_hint = write(
        space.plugins / "c_no_hint.py",
        '''
        from llmos.plugins import tool

        @tool
        def lookup(key):
            """Look a key up."""
        ''',
    )
    quits = write(space.plugins / "d_exits.py", "import sys\nsys.exit(3)\n")
    write(space.plugins / "_helpers.py", "raise RuntimeError('helpers are not loaded')\n")
    registry = default_registry()
    report = load_plugins(space, registry, entry_points=False)
    assert report.loaded == ("forecast", "slow_double", "send_alert")
    assert [(p.origin, p.error) for p in report.problems] == [
        (str(syntax), "SyntaxError: invalid syntax (a_syntax.py, line 1)"),
        (str(raises), "KeyError: 'SURELY_NOT_SET_ANYWHERE' (line 3)"),
        (
            str(no_hint),
            "PluginError: parameter 'key' of c_no_hint.lookup() has no type hint; add one so "
            "the model knows what to pass (line 3)",
        ),
        (str(quits), "SystemExit: 3 (line 2)"),
    ]
    assert str(report.problems[0]).startswith(f"{syntax}: SyntaxError")


def test_two_plugins_with_one_tool_name_is_an_error_naming_both_files(space: Workspace):
    first = write(space.plugins / "weather.py", WEATHER_PLUGIN)
    second = write(
        space.plugins / "weather_copy.py",
        '''
        from llmos.plugins import tool

        @tool
        def forecast(city: str) -> str:
            """Another forecast."""
            return city
        ''',
    )
    registry = ToolRegistry()
    message = (
        f"two plugins define the tool 'forecast': {first} and {second}. "
        "Rename one of them with @tool(name=...)."
    )
    with pytest.raises(PluginConflictError, match=re.escape(message)) as caught:
        load_plugins(space, registry, entry_points=False)
    assert caught.value.tool == "forecast"
    assert registry.names() == []  # nothing half-registered


def test_a_plugin_reusing_a_built_in_name_is_an_error(space: Workspace):
    path = write(
        space.plugins / "shell.py",
        '''
        from llmos.plugins import tool

        @tool(name="Bash")
        def my_bash(command: str) -> str:
            """Not the real Bash."""
            return command
        ''',
    )
    message = f"{path} defines the tool 'Bash', already registered (built-in)"
    with pytest.raises(PluginConflictError, match=re.escape(message)):
        load_plugins(space, default_registry(), entry_points=False)


HOOK_FILE = """
    from llmos.hooks.pipeline import Deny, HookInput
    from llmos.plugins import hook


    @hook("PreToolUse", matcher="Bash")
    def no_recursive_delete(data: HookInput) -> Deny | None:
        if "rm -rf" in data.tool_input["command"]:
            return Deny("recursive deletes are not allowed here")
        return None


    @hook("PostToolUse")
    async def count_calls(data: HookInput) -> None:
        CALLS.append(data.tool)


    CALLS = []


    def not_a_hook(data):
        raise AssertionError("unmarked functions are never registered")
    """


async def test_a_user_hook_file_is_loaded_and_denies_the_pattern(space: Workspace):
    write(space.hooks / "guard.py", HOOK_FILE)
    broken = write(
        space.hooks / "typo.py",
        "from llmos.plugins import hook\n@hook('PreTool')\ndef f(d): pass\n",
    )
    pipeline = HookPipeline()
    report = load_user_hooks(space, pipeline, entry_points=False)
    assert report.loaded == ("no_recursive_delete", "count_calls")
    assert [(p.origin, p.error.split(";")[0]) for p in report.problems] == [
        (str(broken), "PluginError: unknown hook event 'PreTool'")
    ]
    denied = await pipeline.pre_tool_use(hook_ctx(space), "Bash", {"command": "rm -rf build"})
    assert (denied.allowed, denied.hook, denied.reason) == (
        False,
        "no_recursive_delete",
        "recursive deletes are not allowed here",
    )
    assert (await pipeline.pre_tool_use(hook_ctx(space), "Bash", {"command": "ls"})).allowed
    # The matcher is Bash only: a Write whose content says "rm -rf" is not its business.
    write_call = {"file_path": "notes.txt", "content": "rm -rf"}
    assert (await pipeline.pre_tool_use(hook_ctx(space), "Write", write_call)).allowed


# ----------------------------------------------------------------- entry points

ENTRY_POINTS = """
[llmos.plugins]
acme = acme_tools
missing = acme_missing_module

[llmos.hooks]
audit = acme_hooks:audit
"""


@pytest.fixture
def installed_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution 'acme-tools' on sys.path, as pip would leave it, installed nowhere."""
    site = tmp_path / "site"
    write(
        site / "acme_tools" / "__init__.py",
        '''
        from llmos.plugins import tool


        @tool
        def acme_lookup(sku: str) -> dict:
            """Look a product up in the ACME catalogue."""
            return {"sku": sku, "price": 3}
        ''',
    )
    write(
        site / "acme_hooks.py",
        """
        from llmos.hooks.pipeline import Deny
        from llmos.plugins import hook


        @hook("PreToolUse", matcher="WebFetch")
        def audit(data):
            return Deny("ACME forbids the web")
        """,
    )
    dist_info = site / "acme_tools-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-tools\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in ("acme_tools", "acme_hooks"):
        sys.modules.pop(name, None)


async def test_entry_points_add_tools_and_hooks_and_a_broken_one_is_reported(
    space: Workspace, installed_dist: Path, tool_ctx: ToolContext
):
    # A workspace plugin importing the installed tool does not register it twice.
    write(space.plugins / "reexport.py", "from acme_tools import acme_lookup  # noqa: F401\n")
    registry = default_registry()
    report = load_plugins(space, registry)
    assert report.loaded == ("acme_lookup",)
    assert [(p.origin, p.error) for p in report.problems] == [
        (
            "entry point llmos.plugins:missing (acme_missing_module) of acme-tools",
            "ModuleNotFoundError: No module named 'acme_missing_module'",
        )
    ]
    lookup = registry.get("acme_lookup")
    assert lookup is not None and lookup.source == "plugin:acme_tools"
    result = await registry.execute("acme_lookup", {"sku": "A-1"}, tool_ctx)
    assert result.content == '{"sku":"A-1","price":3}'

    pipeline = HookPipeline()
    assert load_user_hooks(space, pipeline).loaded == ("audit",)
    verdict = await pipeline.pre_tool_use(hook_ctx(space), "WebFetch", {"url": "https://x"})
    assert (verdict.allowed, verdict.reason) == (False, "ACME forbids the web")
