"""``@tool`` and ``@hook``: what a plain function becomes, and what is refused."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field

from llmos.hooks.inputs import PreToolUseInput
from llmos.hooks.pipeline import Deny
from llmos.plugins import FunctionTool, PluginError, hook, tool
from llmos.plugins.decorator import hook_spec, split_docstring
from llmos.tools.base import ToolContext, ToolRegistry, ToolResult


@tool
def forecast(
    city: Annotated[str, "the city to look up"],
    days: int = 3,
    units: Literal["C", "F"] = "C",
    detail: Annotated[bool, Field(description="include hourly data")] = False,
) -> dict[str, object]:
    """Weather forecast for a city.

    Args:
        days: how many days ahead,
            counting today.
        units: the temperature scale.

    Returns:
        The forecast as a mapping.
    """
    return {"city": city, "days": days, "units": units, "detail": detail}


@tool(name="double_it", replayable=False)
async def doubler(value: float) -> float:
    """Double a number."""
    return value * 2


@tool
def where_am_i(ctx: ToolContext, suffix: str = "") -> str:
    """The working directory the call runs in."""
    return f"{ctx.cwd}{suffix}"


@tool
def which_thread() -> str:
    """The name of the thread the function runs in."""
    return threading.current_thread().name


def test_the_schema_comes_from_type_hints_annotations_and_the_docstring():
    assert isinstance(forecast, FunctionTool)
    assert forecast.name == "forecast"
    assert forecast.description == (
        "Weather forecast for a city.\n\nReturns:\n    The forecast as a mapping."
    )
    assert forecast.input_schema() == {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "city": {"type": "string", "description": "the city to look up"},
            "days": {
                "type": "integer",
                "default": 3,
                "description": "how many days ahead, counting today.",
            },
            "units": {
                "enum": ["C", "F"],
                "type": "string",
                "default": "C",
                "description": "the temperature scale.",
            },
            "detail": {"type": "boolean", "default": False, "description": "include hourly data"},
        },
        "required": ["city"],
    }
    assert forecast.replayable is True
    assert forecast.source == f"plugin:{__name__}"


def test_options_set_the_name_and_replayability():
    assert doubler.name == "double_it"
    assert doubler.replayable is False
    assert doubler.input_schema()["required"] == ["value"]


def test_a_context_parameter_is_injected_and_not_shown_to_the_model(tool_ctx: ToolContext):
    assert where_am_i.input_schema()["properties"] == {"suffix": {"type": "string", "default": ""}}
    assert where_am_i.context_parameter == "ctx"


async def test_sync_tools_run_in_a_worker_thread_and_async_ones_on_the_loop(
    tool_ctx: ToolContext,
):
    registry = ToolRegistry([forecast, doubler, where_am_i, which_thread])
    thread = await registry.execute("which_thread", {}, tool_ctx)
    assert thread.content != threading.current_thread().name
    assert (await registry.execute("double_it", {"value": 2.5}, tool_ctx)).content == "5.0"
    here = await registry.execute("where_am_i", {"suffix": "/x"}, tool_ctx)
    assert here.content == f"{tool_ctx.cwd}/x"


async def test_return_values_become_text_json_or_pass_through(tool_ctx: ToolContext):
    @tool
    def passthrough() -> ToolResult:
        """Return a result as is."""
        return ToolResult(content="seen", output="kept", exit_code=0)

    @tool
    def opaque() -> object:
        """Return something JSON cannot hold."""
        return object()

    registry = ToolRegistry([forecast, passthrough, opaque])
    as_json = await registry.execute("forecast", {"city": "Oslo", "units": "F"}, tool_ctx)
    assert as_json.content == '{"city":"Oslo","days":3,"units":"F","detail":false}'
    assert not as_json.is_error
    assert await registry.execute("passthrough", {}, tool_ctx) == ToolResult(
        content="seen", output="kept", exit_code=0
    )
    bad = await registry.execute("opaque", {}, tool_ctx)
    assert bad.is_error
    assert bad.content.startswith(
        "plugin tool opaque returned a object, which cannot be written as JSON"
    )


async def test_invalid_input_is_an_error_result_naming_the_field(tool_ctx: ToolContext):
    registry = ToolRegistry([forecast])
    result = await registry.execute("forecast", {"city": "Oslo", "units": "K"}, tool_ctx)
    assert result.is_error
    assert result.content.startswith(
        "Invalid input for forecast: units: Input should be 'C' or 'F'"
    )
    extra = await registry.execute("forecast", {"city": "Oslo", "colour": "red"}, tool_ctx)
    assert extra.is_error and "colour: Extra inputs are not permitted" in extra.content


async def test_a_tool_that_raises_is_an_error_result_not_a_crash(tool_ctx: ToolContext):
    @tool
    def explode(reason: str) -> str:
        """Fail."""
        raise RuntimeError(reason)

    result = await ToolRegistry([explode]).execute("explode", {"reason": "disk on fire"}, tool_ctx)
    assert result == ToolResult.error("explode failed: RuntimeError: disk on fire")


async def test_parameter_names_pydantic_reserves_still_work(tool_ctx: ToolContext):
    @tool
    def render(json: str, _private: int = 1) -> str:
        """Echo the parameters."""
        return f"{json}:{_private}"

    assert set(render.input_schema()["properties"]) == {"json", "_private"}
    result = await ToolRegistry([render]).execute("render", {"json": "a", "_private": 7}, tool_ctx)
    assert result.content == "a:7"


async def test_a_sync_function_returning_an_awaitable_is_awaited(tool_ctx: ToolContext):
    async def fetch(key: str) -> str:
        return key.upper()

    @tool
    def lookup(key: str) -> Awaitable[str]:
        """Look a key up through an async client."""
        return fetch(key)

    assert (await ToolRegistry([lookup]).execute("lookup", {"key": "k"}, tool_ctx)).content == "K"


def test_the_decorated_function_can_still_be_called_directly():
    assert forecast("Oslo", days=1)["days"] == 1


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f(x: int): return x", "has no docstring"),
        ('def f(x):\n    """Doc."""', "parameter 'x' of"),
        ('def f(*items: int):\n    """Doc."""', "is variadic positional; a tool takes named"),
        ('def f(x: "Missing"):\n    """Doc."""', "cannot read the type hints of"),
        ('def f(x: int):\n    """Doc."""\n    yield x', "is a generator"),
    ],
)
def test_functions_that_cannot_be_tools_are_refused_with_the_reason(source: str, message: str):
    namespace: dict[str, object] = {}
    exec(source, namespace)
    with pytest.raises(PluginError, match=re.escape(message)):
        tool(namespace["f"])  # type: ignore[arg-type]


def test_a_tool_name_the_model_apis_refuse_is_an_error():
    with pytest.raises(PluginError, match=re.escape("tool name 'look up' (")):
        tool(name="look up")(forecast.fn)
    with pytest.raises(PluginError, match=re.escape("tool name '' (")):
        tool(functools.partial(forecast.fn, days=2))


def test_hook_marks_the_function_and_checks_event_and_matcher():
    @hook("PreToolUse", matcher="Bash|Write", fail_closed=True)
    def guard(data: PreToolUseInput) -> Deny | None:
        return None

    spec = hook_spec(guard)
    assert spec is not None
    bound = spec.bind(guard)
    assert (bound.name, bound.event, bound.matcher, bound.fail_closed) == (
        "guard",
        "PreToolUse",
        "Bash|Write",
        True,
    )
    unknown = "unknown hook event 'BeforeTool'; use one of PreToolUse"
    with pytest.raises(PluginError, match=re.escape(unknown)):
        hook("BeforeTool")  # type: ignore[arg-type]
    with pytest.raises(PluginError, match=re.escape("hook matcher 'Bash(' is not a valid regex")):
        hook("PreToolUse", matcher="Bash(")


def test_split_docstring_moves_args_into_the_schema_and_keeps_the_rest():
    text, args = split_docstring(
        "Do it.\n\nArgs:\n    path (str): where.\n    mode: how,\n        exactly.\n\n"
        "Raises:\n    OSError: never."
    )
    assert text == "Do it.\n\nRaises:\n    OSError: never."
    assert args == {"path": "where.", "mode": "how, exactly."}


def test_source_of_a_file_plugin_is_its_file_stem(tmp_path: Path):
    from llmos.plugins.loader import import_file

    path = tmp_path / "textkit.py"
    path.write_text(
        "from llmos.plugins import tool\n\n@tool\ndef upper(text: str) -> str:\n"
        '    """Upper-case."""\n    return text.upper()\n'
    )
    module = import_file(path, "plugin")
    assert module.upper.source == "plugin:textkit"
