"""The tool contract: what a tool takes, what it returns, and the registry.

Tools carry the names and input schemas of the Claude Code tools, so a trace
recorded by any backend replays through these implementations with the same
meaning. A tool never raises for a problem the model can fix: it returns a
:class:`ToolResult` with ``is_error=True`` and a message the model can act on.
"""

from __future__ import annotations

import asyncio
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from llmos.config import ToolsConfig
from llmos.text import escape_surrogates
from llmos.tools.environment import build_environment


@dataclass(frozen=True, slots=True, kw_only=True)
class Isolation:
    """Bash only inside bubblewrap, no network, ``hidden`` folders replaced by empty ones.

    ``read_only`` folders are mounted read-only on top (decoys that stand where
    the hidden state was, so a command probing its surroundings sees the same
    shape as in a real run and cannot write there).
    """

    hidden: tuple[Path, ...] = ()
    read_only: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolContext:
    """Where a tool runs: the task's working directory, inside the workspace.

    ``settings`` is the ``[tools]`` section as loaded, passed down as it is.
    """

    cwd: Path
    workspace: Path
    settings: ToolsConfig = field(default_factory=ToolsConfig)
    #: Stricter sandboxing for one run (verifying an untrusted trace): Bash must run in
    #: bubblewrap, with these folders hidden (see :func:`llmos.tools.sandbox.bash_argv`).
    isolation: Isolation | None = None

    def for_replay(self) -> ToolContext:
        """The context a replayed step runs in: the sandbox's network as set for replays.

        A replay runs what a trace recorded, possibly imported: no network unless asked.
        """
        network = self.settings.sandbox_network_replay
        if network == self.settings.sandbox_network:
            return self
        settings = self.settings.model_copy(update={"sandbox_network": network})
        return replace(self, settings=settings)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult:
    """What a tool did.

    ``content`` is what the model sees (possibly truncated, with a note);
    ``output`` is the whole output kept for the trace (up to a limit);
    ``exit_code``, ``files_written`` (relative path → sha256) and
    ``files_read`` are the facts a Follower checks on replay.

    Every tool's result is made here, so this is where text that is not valid
    Unicode (file names with non-UTF-8 bytes, as ``os.listdir`` returns them)
    is escaped (:func:`llmos.text.escape_surrogates`): events, traces, the
    session log and JSON output can then always store and send it.
    """

    content: str
    is_error: bool = False
    output: str | None = None
    exit_code: int | None = None
    files_written: Mapping[str, str] = field(default_factory=dict)
    files_read: tuple[str, ...] = ()
    #: False when the call never reached a tool (unknown name, invalid input): it did
    #: nothing, so PostToolUse hooks and the trace do not see it.
    ran: bool = True

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # frozen: fix the fields once, as they are made
        set_field(self, "content", escape_surrogates(self.content))
        if self.output is not None:
            set_field(self, "output", escape_surrogates(self.output))
        set_field(
            self,
            "files_written",
            {escape_surrogates(path): digest for path, digest in self.files_written.items()},
        )
        set_field(self, "files_read", tuple(escape_surrogates(p) for p in self.files_read))

    @classmethod
    def error(cls, message: str) -> ToolResult:
        return cls(content=message, is_error=True)

    @classmethod
    def rejected(cls, message: str) -> ToolResult:
        """A call refused before any tool ran: the model sees why, nothing is recorded."""
        return cls(content=message, is_error=True, ran=False)

    @property
    def full_output(self) -> str:
        return self.content if self.output is None else self.output


class ToolError(Exception):
    """Raised inside a tool to end it with an error result the model sees."""


class Tool(ABC):
    """One tool the model can call.

    Subclasses set ``name``, ``description`` and ``Input`` (a pydantic model
    whose JSON schema is offered to the model) and implement :meth:`run`.
    ``replayable`` is False for tools with effects outside the workspace that
    the Follower must not repeat blindly.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Input: ClassVar[type[BaseModel]]
    replayable: ClassVar[bool] = True
    source: ClassVar[str] = "built-in"

    @abstractmethod
    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        """Run with validated ``args`` (an instance of ``Input``)."""

    def input_schema(self) -> dict[str, Any]:
        schema = self.Input.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return schema


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec:
    """What a backend is told about a tool."""

    name: str
    description: str
    input_schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Unbuilt:
    """A registered tool not built yet: ``factory()`` builds it."""

    factory: Callable[[], Tool]


class ToolRegistry:
    """The one place tools are registered; plugins and MCP servers add to it.

    A tool may be registered by name with a factory (:meth:`register_lazy`): it
    is built, and its module imported, the first time it is looked up, so a
    replay that calls one tool does not import the other seven.
    """

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool | _Unbuilt] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        self._claim(tool.name)
        self._tools[tool.name] = tool

    def register_lazy(self, name: str, factory: Callable[[], Tool]) -> None:
        """Register the tool ``factory()`` builds (named ``name``) without building it yet."""
        self._claim(name)
        self._tools[name] = _Unbuilt(factory)

    def _claim(self, name: str) -> None:
        if name in self._tools:
            raise ValueError(f"a tool named {name!r} is already registered")

    def _built(self, name: str) -> Tool:
        entry = self._tools[name]
        if not isinstance(entry, _Unbuilt):
            return entry
        tool = self._tools[name] = entry.factory()
        if tool.name != name:
            raise ValueError(f"the tool registered as {name!r} is named {tool.name!r}")
        return tool

    def get(self, name: str) -> Tool | None:
        return self._built(name) if name in self._tools else None

    def names(self) -> list[str]:
        return list(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter([self._built(name) for name in list(self._tools)])

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def subset(self, names: Iterable[str]) -> ToolRegistry:
        """A registry of only ``names``; KeyError lists the names that are not registered."""
        wanted = list(names)
        missing = [name for name in wanted if name not in self._tools]
        if missing:
            raise KeyError(", ".join(sorted(missing)))
        subset = ToolRegistry()
        subset._tools = {name: self._tools[name] for name in wanted}
        return subset

    def specs(self, only: Iterable[str] | None = None) -> list[ToolSpec]:
        wanted = None if only is None else set(only)
        return [
            ToolSpec(name=t.name, description=t.description, input_schema=t.input_schema())
            for t in (self._built(name) for name in list(self._tools))
            if wanted is None or t.name in wanted
        ]

    async def execute(
        self, name: str, raw_input: Mapping[str, Any], ctx: ToolContext
    ) -> ToolResult:
        """Validate and run one call; every failure becomes an error result."""
        tool = self.get(name)
        if tool is None:
            known = ", ".join(sorted(self._tools))
            return ToolResult.rejected(f"Unknown tool {name!r}. Available tools: {known}.")
        try:
            args = tool.Input.model_validate(dict(raw_input))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}"
                for err in exc.errors()
            )
            return ToolResult.rejected(f"Invalid input for {name}: {problems}")
        try:
            result = await tool.run(args, ctx)
        except ToolError as exc:
            result = ToolResult.error(str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a tool bug must not end the run
            result = ToolResult.error(f"{name} failed: {type(exc).__name__}: {exc}")
        return _redacted(result, ctx)


def _redacted(result: ToolResult, ctx: ToolContext) -> ToolResult:
    """The result with secret values of the environment replaced, before the model or a
    trace sees it (every tool passes here: built-in, plugin and MCP alike)."""
    env = build_environment(ctx.settings.env)
    if not env.secrets:
        return result
    content = env.redact(result.content)
    output = None if result.output is None else env.redact(result.output)
    if content == result.content and output == result.output:
        return result
    return replace(result, content=content, output=output)


def resolve_inside(ctx: ToolContext, path: str) -> Path:
    """Resolve ``path`` (relative to the working directory) and keep it inside.

    Symlinks are resolved; anything that lands outside the working directory
    is refused with a message, never clamped.
    """
    if not path:
        raise ToolError("The path is empty.")
    if "\x00" in path:
        raise ToolError("The path contains a NUL byte.")
    root = ctx.cwd.resolve()
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if resolved != root and not resolved.is_relative_to(root):
        raise ToolError(
            f"Access denied: {path!r} resolves to {resolved}, outside the working "
            f"directory {root}. Use a path inside it."
        )
    return resolved


def relative_name(ctx: ToolContext, path: Path) -> str:
    """The path as recorded in traces: relative to the working directory."""
    return path.resolve().relative_to(ctx.cwd.resolve()).as_posix()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
