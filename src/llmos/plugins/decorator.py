"""``@tool`` and ``@hook``: plain Python functions as llmos tools and hooks.

``@tool`` turns a function with type hints and a docstring into a
:class:`~llmos.tools.base.Tool` instance: the name is the function's, the
description its docstring, and the input schema a pydantic model built from
the signature, so the model is offered exactly what the function accepts.
``@hook`` only marks a function; the loader registers it on the pipeline.

Example:
    @tool
    def word_count(text: Annotated[str, "the text to count"]) -> int:
        \"\"\"Count the words in a text.\"\"\"
        return len(text.split())
"""

from __future__ import annotations

import asyncio
import inspect
import re
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, get_args, get_origin, overload

from pydantic import BaseModel, ConfigDict, Field, PydanticSchemaGenerationError, create_model
from pydantic_core import PydanticSerializationError, to_json

from llmos.hooks.inputs import HOOK_EVENTS, HookEventName, InputT
from llmos.hooks.pipeline import Hook, HookFn
from llmos.plugins.errors import PluginError
from llmos.tools._text import text_result
from llmos.tools.base import Tool, ToolContext, ToolResult

#: Set by the loader on a module loaded from a file: the name its tools show as their source.
SOURCE_ATTRIBUTE = "__llmos_source__"
#: Where :func:`hook` keeps its :class:`HookSpec` on the decorated function.
HOOK_ATTRIBUTE = "__llmos_hook__"
#: What the model APIs accept as a tool name (Anthropic and OpenAI agree on it).
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_ARGS_SECTIONS = ("Args", "Arguments", "Parameters")
_SECTION = re.compile(r"^([A-Z][A-Za-z ]*):\s*$")
_ARG_LINE = re.compile(r"^\s{1,4}\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


class FunctionTool(Tool):
    """A tool made by :func:`tool`; each decorated function gets its own subclass."""

    fn: ClassVar[Callable[..., Any]]
    #: Input field name → the function's parameter name (they differ only for
    #: names pydantic reserves, such as ``json`` or ``_private``).
    parameters: ClassVar[Mapping[str, str]]
    context_parameter: ClassVar[str | None] = None
    is_async: ClassVar[bool] = False

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        kwargs = {self.parameters[field]: value for field, value in args}
        if self.context_parameter is not None:
            kwargs[self.context_parameter] = ctx
        if self.is_async:
            value = await self.fn(**kwargs)
        else:  # a sync plugin must not block the event loop
            value = await asyncio.to_thread(self.fn, **kwargs)
            if inspect.isawaitable(value):  # a sync function that hands back a coroutine
                value = await value
        return to_result(self.name, value, ctx)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function itself, so a plugin's author can test it directly."""
        return self.fn(*args, **kwargs)


def to_result(tool_name: str, value: Any, ctx: ToolContext) -> ToolResult:
    """A plugin's return value as a result: str as is, ToolResult through, else JSON."""
    if isinstance(value, ToolResult):
        return value
    if isinstance(value, str):
        return text_result(value, ctx.settings)
    try:
        text = to_json(value).decode()
    except PydanticSerializationError as exc:
        return ToolResult.error(
            f"plugin tool {tool_name} returned a {type(value).__name__}, which cannot be "
            f"written as JSON ({exc}); return a str, a ToolResult or JSON-able data"
        )
    return text_result(text, ctx.settings)


@overload
def tool(fn: Callable[..., Any], /) -> FunctionTool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None, replayable: bool = True
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    replayable: bool = True,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make a function (sync or async) a tool the model can call.

    Use it bare (``@tool``) or with options (``@tool(name="lookup",
    replayable=False)``). Mark a tool ``replayable=False`` when it has effects
    outside the workspace (sends mail, calls a paid API): the Follower then
    refuses to replay traces that use it. A parameter annotated with
    :class:`~llmos.tools.base.ToolContext` receives the call's context and is
    not shown to the model. Sync functions run in a worker thread.

    Raises:
        PluginError: the function cannot be offered as a tool (no docstring,
            a parameter without a type hint, ``*args``, a bad name).
    """

    def build(function: Callable[..., Any]) -> FunctionTool:
        return make_tool(function, name=name, description=description, replayable=replayable)

    return build if fn is None else build(fn)


def make_tool(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    replayable: bool = True,
) -> FunctionTool:
    """The work behind :func:`tool`: one :class:`FunctionTool` subclass and its instance."""
    where = _describe(fn)
    if not callable(fn) or inspect.isclass(fn):
        raise PluginError(f"@tool needs a function, got {fn!r}", origin=where)
    if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
        raise PluginError(
            f"{where} is a generator; a tool returns its whole result at once", origin=where
        )
    tool_name = name or str(getattr(fn, "__name__", ""))
    if not TOOL_NAME.match(tool_name):
        raise PluginError(
            f"tool name {tool_name!r} ({where}) is not allowed: use 1 to 64 letters, digits, "
            "'_' or '-'",
            origin=where,
        )
    summary, arg_docs = split_docstring(inspect.getdoc(fn) or "")
    text = description or summary
    if not text:
        raise PluginError(
            f"{where} has no docstring; write one (the model reads it to decide when to "
            "call the tool) or pass @tool(description=...)",
            origin=where,
        )
    model, parameters, context_parameter = input_model(fn, tool_name, arg_docs)
    attributes: dict[str, Any] = {
        "name": tool_name,
        "description": text,
        "Input": model,
        "replayable": replayable,
        "source": f"plugin:{module_label(fn)}",
        "fn": staticmethod(fn),
        "parameters": parameters,
        "context_parameter": context_parameter,
        "is_async": inspect.iscoroutinefunction(fn),
        "__module__": getattr(fn, "__module__", __name__),
        "__doc__": text,
    }
    cls = type(f"{_pascal(tool_name)}Tool", (FunctionTool,), attributes)
    return cls()


def input_model(
    fn: Callable[..., Any], tool_name: str, arg_docs: Mapping[str, str]
) -> tuple[type[BaseModel], dict[str, str], str | None]:
    """The pydantic model of ``fn``'s parameters, their field names, and its context parameter."""
    where = _describe(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # NameError, TypeError: an annotation that does not resolve
        raise PluginError(f"cannot read the type hints of {where}: {exc}", origin=where) from exc
    fields: dict[str, Any] = {}
    parameters: dict[str, str] = {}
    context_parameter: str | None = None
    for index, (param_name, param) in enumerate(inspect.signature(fn).parameters.items()):
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise PluginError(
                f"parameter {param_name!r} of {where} is {param.kind.description}; a tool takes "
                "named parameters only",
                origin=where,
            )
        if param_name not in hints:
            raise PluginError(
                f"parameter {param_name!r} of {where} has no type hint; add one so the model "
                "knows what to pass",
                origin=where,
            )
        annotation = hints[param_name]
        if _strip_annotated(annotation) is ToolContext:
            context_parameter = param_name
            continue
        annotation = _with_description(annotation, arg_docs.get(param_name))
        field_name = param_name
        if param_name.startswith("_") or hasattr(BaseModel, param_name):
            field_name = f"param_{index}"  # pydantic reserves the name; the alias keeps it
            annotation = Annotated[annotation, Field(alias=param_name)]
        default = ... if param.default is param.empty else param.default
        fields[field_name] = (annotation, default)
        parameters[field_name] = param_name
    try:
        model = create_model(
            f"{_pascal(tool_name)}Input",
            __config__=ConfigDict(extra="forbid"),
            **fields,
        )
    except (PydanticSchemaGenerationError, TypeError) as exc:
        raise PluginError(
            f"the parameters of {where} cannot be described as JSON: {exc}", origin=where
        ) from exc
    return model, parameters, context_parameter


def split_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into the description and the ``Args:`` entries.

    The ``Args:`` section moves into the input schema (one description per
    field), so it is not repeated in the tool's description.
    """
    kept: list[str] = []
    args: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for line in doc.splitlines():
        header = _SECTION.match(line)
        if header:
            in_args = header.group(1) in _ARGS_SECTIONS
            current = None
            if in_args:
                continue
        if not in_args:
            kept.append(line)
            continue
        entry = _ARG_LINE.match(line)
        if entry:
            current = entry.group(1)
            args[current] = entry.group(2).strip()
        elif current is not None and line.strip():
            args[current] = f"{args[current]} {line.strip()}".strip()
    return "\n".join(kept).strip(), args


def module_label(fn: Callable[..., Any]) -> str:
    """The name a function's module shows as its source (a file plugin's file stem)."""
    module_name = getattr(fn, "__module__", None) or "__main__"
    return str(getattr(sys.modules.get(module_name), SOURCE_ATTRIBUTE, module_name))


@dataclass(frozen=True, slots=True, kw_only=True)
class HookSpec:
    """What :func:`hook` recorded about a function, until the loader registers it."""

    event: HookEventName
    matcher: str | None = None
    name: str | None = None
    fail_closed: bool = False
    timeout_s: float = 10.0

    def bind(self, fn: HookFn[Any]) -> Hook[Any]:
        return Hook(
            name=self.name or str(getattr(fn, "__name__", "hook")),
            event=self.event,
            fn=fn,
            matcher=self.matcher,
            fail_closed=self.fail_closed,
            timeout_s=self.timeout_s,
        )


def hook(
    event: HookEventName,
    *,
    matcher: str | None = None,
    name: str | None = None,
    fail_closed: bool = False,
    timeout_s: float = 10.0,
) -> Callable[[HookFn[InputT]], HookFn[InputT]]:
    """Mark a function as a hook for ``event``; the function itself is unchanged.

    ``matcher`` is a regular expression over the tool name (full match). The
    function receives the event's input type from :mod:`llmos.hooks.inputs`
    (``PreToolUse`` → ``PreToolUseInput``) and returns a decision (``Deny``,
    ``Allow``, ``Rewrite``, ``Ask``, ``AddContext``) or None. An ``async def``
    hook runs on the event loop; a plain one runs in a worker thread, cut off
    (and, if ``fail_closed``, denied) after ``timeout_s``.

    Example:
        @hook("PreToolUse", matcher="Bash")
        def no_curl(data: PreToolUseInput) -> Deny | None:
            if "curl" in data.tool_input["command"]:
                return Deny("no network from Bash here")
            return None
    """
    if event not in HOOK_EVENTS:
        raise PluginError(f"unknown hook event {event!r}; use one of {', '.join(HOOK_EVENTS)}")
    if matcher is not None:
        try:
            re.compile(matcher)
        except re.error as exc:
            raise PluginError(f"hook matcher {matcher!r} is not a valid regex: {exc}") from exc
    spec = HookSpec(
        event=event, matcher=matcher, name=name, fail_closed=fail_closed, timeout_s=timeout_s
    )

    def mark(fn: HookFn[InputT]) -> HookFn[InputT]:
        setattr(fn, HOOK_ATTRIBUTE, spec)
        return fn

    return mark


def hook_spec(obj: object) -> HookSpec | None:
    """The spec :func:`hook` left on ``obj``, if it is a marked function."""
    if not callable(obj):
        return None
    spec = getattr(obj, HOOK_ATTRIBUTE, None)
    return spec if isinstance(spec, HookSpec) else None


def _strip_annotated(annotation: Any) -> Any:
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _with_description(annotation: Any, documented: str | None) -> Any:
    """Turn ``Annotated[T, "text"]`` (or an ``Args:`` entry) into a field description."""
    base = annotation
    metadata: tuple[Any, ...] = ()
    if get_origin(annotation) is Annotated:
        base, *rest = get_args(annotation)
        metadata = tuple(rest)
    texts = [item for item in metadata if isinstance(item, str)]
    others = [item for item in metadata if not isinstance(item, str)]
    description = texts[0] if texts else documented
    if description is None:
        return annotation
    # The caller's own Field(...) comes after, so its description wins.
    return Annotated[base, Field(description=description), *others]


def _describe(fn: object) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn))
    module = getattr(fn, "__module__", None)
    label = module_label(fn) if module else ""  # type: ignore[arg-type]
    return f"{label}.{name}()" if label else f"{name}()"


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\-]+", name) if part)
