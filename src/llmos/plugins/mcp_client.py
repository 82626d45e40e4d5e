"""MCP servers' tools as llmos tools, through the official ``mcp`` SDK over stdio.

Each server in ``[mcp.servers.NAME]`` is started the first time its tools are
listed or called, and each of its tools is offered to the model as
``mcp__NAME__TOOL`` with the server's JSON schema as given. Calls go through
the same hooks, trace and replay as every other tool. A server that will not
start is reported with its name and command and its tools are left out; the
run goes on. Sessions live in one background task per server, because the
SDK's client is an anyio context that must be entered and left in the same
task, while llmos lists in one task and calls from others.

Example:
    async with McpTools(settings.mcp.servers) as mcp:
        report = await mcp.register_into(llmos.tools)
        result = await llmos.execute("Look up the weather")
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from pydantic import RootModel, model_validator
from pydantic_core import PydanticCustomError

from llmos.config import EnvConfig, McpServerConfig, ToolsConfig
from llmos.plugins.errors import McpServerError
from llmos.plugins.loader import LoadProblem, LoadReport
from llmos.tools._text import text_result
from llmos.tools.base import Tool, ToolContext, ToolRegistry, ToolResult
from llmos.tools.environment import build_environment
from llmos.version import __version__

if TYPE_CHECKING:
    from mcp.types import CallToolResult

    from mcp import Client

MCP_PREFIX = "mcp__"
#: How long closing one server may take before its task is cancelled (the SDK's own
#: stdio shutdown is bounded too: stdin close, then SIGTERM, then SIGKILL).
CLOSE_TIMEOUT_S = 10.0
_STDERR_TAIL_CHARS = 1_500
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_MAX_NAME = 64


def mcp_tool_name(server: str, tool: str) -> str:
    """The name the model sees: ``mcp__SERVER__TOOL``, characters APIs refuse made ``_``."""
    return f"{MCP_PREFIX}{server}__{_NAME_CHARS.sub('_', tool)}"


class McpInput(RootModel[dict[str, Any]]):
    """Arguments for an MCP tool: the JSON object the server's schema describes."""

    schema_validator: ClassVar[Any] = None

    @model_validator(mode="after")
    def _matches_schema(self) -> McpInput:
        if self.schema_validator is not None:
            errors = sorted(self.schema_validator.iter_errors(self.root), key=lambda e: e.path)
            if errors:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e.path) or 'input'}: {e.message}" for e in errors
                )
                raise PydanticCustomError("mcp_schema", "{problems}", {"problems": problems})
        return self


def _validator_for(schema: Mapping[str, Any]) -> Any:
    """A jsonschema validator when jsonschema is installed and the schema is sound."""
    try:
        import jsonschema
    except ImportError:  # without it the server validates on its own
        return None
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError:
        return None  # the server's schema is its business; pass arguments through
    return cls(schema)


class McpTool(Tool):
    """One tool of one MCP server; each gets its own subclass (name, schema)."""

    remote_name: ClassVar[str]
    schema: ClassVar[Mapping[str, Any]]

    def __init__(self, connection: McpConnection) -> None:
        self.connection = connection

    def input_schema(self) -> dict[str, Any]:
        return dict(self.schema)

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        return await self.connection.call(self.remote_name, args.root, ctx.settings)


class McpConnection:
    """One server: started on demand, restarted after it closed, closed bounded."""

    def __init__(
        self, name: str, config: McpServerConfig, env_policy: EnvConfig | None = None
    ) -> None:
        self.name = name
        self.config = config
        self.env_policy = env_policy or EnvConfig()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._client: Client | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._stderr: TextIO | None = None

    @property
    def command_line(self) -> str:
        return shlex.join([self.config.command, *self.config.args])

    @property
    def running(self) -> bool:
        return self._client is not None and self._runner is not None and not self._runner.done()

    def _error(self, what: str) -> McpServerError:
        return McpServerError(
            f"MCP server {self.name!r} ({self.command_line}) {what}",
            server=self.name,
            command=self.command_line,
        )

    async def client(self) -> Client:
        """The connected client, starting the server if it is not running."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop: the old one took its tasks with it
            self._loop, self._lock = loop, asyncio.Lock()
            self._client = self._runner = None
        assert self._lock is not None  # set just above
        async with self._lock:
            if not self.running:
                await self._start()
            assert self._client is not None  # _start raises or sets it
            return self._client

    async def _start(self) -> None:
        self._close_stderr()
        # Lives as long as the server (closed in aclose), so no context manager.
        self._stderr = tempfile.TemporaryFile(  # noqa: SIM115
            "w+", encoding="utf-8", errors="replace"
        )
        ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._runner = asyncio.create_task(
            self._serve(ready, self._stop, self._stderr), name=f"mcp-server-{self.name}"
        )
        try:
            async with asyncio.timeout(self.config.startup_timeout):
                self._client = await asyncio.shield(ready)
        except TimeoutError:
            note = self._stderr_note()
            await self.aclose(graceful=False)
            raise self._error(
                f"did not answer within {self.config.startup_timeout:g} s{note}; "
                "check the command, or raise startup_timeout in [mcp.servers."
                f"{self.name}]"
            ) from None
        except asyncio.CancelledError:
            await self.aclose(graceful=False)  # never leave a half-started server behind
            raise
        except Exception as exc:
            note = self._stderr_note()
            await self.aclose()
            raise self._error(
                f"failed to start: {_describe(exc)}{note}; check command and args in "
                f"[mcp.servers.{self.name}]"
            ) from exc

    async def _serve(
        self, ready: asyncio.Future[Client], stop: asyncio.Event, stderr: TextIO
    ) -> None:
        """Own the SDK client for the server's whole life, in this one task."""
        try:
            from mcp.client.stdio import stdio_client
            from mcp.types import Implementation

            from mcp import Client, StdioServerParameters

            params = StdioServerParameters(
                command=self.config.command,
                args=list(self.config.args),
                # The same scrubbed environment as Bash ([tools.env]), plus the server's own.
                env={**build_environment(self.env_policy).variables, **self.config.env},
                cwd=self.config.cwd,
            )
            async with Client(
                stdio_client(params, errlog=stderr),
                read_timeout_seconds=self.config.call_timeout,
                client_info=Implementation(name="llmos", version=__version__),
            ) as client:
                ready.set_result(client)
                await stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except BaseException as exc:  # ExceptionGroups from the SDK's task groups too
            if not ready.done():
                ready.set_exception(exc)
            # after a successful start, calls see the closed connection themselves

    async def tools(self) -> list[McpTool]:
        """List the server's tools (every page), starting it if needed."""
        client = await self.client()
        listed = []
        cursor: str | None = None
        try:
            async with asyncio.timeout(self.config.startup_timeout):
                while True:
                    page = await client.list_tools(cursor=cursor)
                    listed.extend(page.tools)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
        except Exception as exc:
            raise self._error(f"could not list its tools: {_describe(exc)}") from exc
        return [self._tool(item.name, item.description, item.input_schema) for item in listed]

    def _tool(self, remote: str, description: str | None, schema: Mapping[str, Any]) -> McpTool:
        name = mcp_tool_name(self.name, remote)
        input_model = type(
            f"McpInput_{self.name}_{remote}",
            (McpInput,),
            {"schema_validator": _validator_for(schema), "__module__": __name__},
        )
        cls = type(
            f"McpTool_{self.name}_{remote}",
            (McpTool,),
            {
                "name": name,
                "description": description or f"{remote} (from the MCP server {self.name})",
                "Input": input_model,
                "replayable": self.config.replayable,
                "source": f"mcp:{self.name}",
                "remote_name": remote,
                "schema": dict(schema),
                "__module__": __name__,
            },
        )
        return cls(self)

    async def call(
        self, tool: str, arguments: Mapping[str, Any], settings: ToolsConfig
    ) -> ToolResult:
        """Call ``tool``; every failure is an error result naming the server."""
        try:
            client = await self.client()
        except McpServerError as exc:
            return ToolResult.error(str(exc))
        from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        from mcp import MCPError

        try:
            result = await client.call_tool(tool, dict(arguments))
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                note = self._stderr_note()
                await self.aclose()  # the next call starts it again
                what = f"closed the connection during {tool}{note}; it restarts on the next call"
            elif exc.code == REQUEST_TIMEOUT:
                what = (
                    f"did not answer {tool} within {self.config.call_timeout:g} s; raise "
                    f"call_timeout in [mcp.servers.{self.name}] if it needs longer"
                )
            else:
                what = f"answered {tool} with an error: {exc.message}"
            return ToolResult.error(str(self._error(what)))
        return to_tool_result(result, settings)

    def _stderr_note(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.flush()
            self._stderr.seek(0)
            text = self._stderr.read().strip()
        except (OSError, ValueError):
            return ""
        if not text:
            return ""
        return f"; its stderr ends with: {text[-_STDERR_TAIL_CHARS:]}"

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    async def aclose(self, *, graceful: bool = True) -> None:
        """Stop the server; bounded, and carried through even if the caller is cancelled.

        ``graceful`` lets the session end normally; otherwise (a server stuck in
        its handshake) the task is cancelled at once and the SDK kills the process.
        """
        runner, stop = self._runner, self._stop
        self._client = self._runner = self._stop = None
        if runner is None or stop is None:
            self._close_stderr()
            return
        if not graceful:
            runner.cancel()
        closing = asyncio.ensure_future(_finish(runner, stop))
        try:
            await asyncio.shield(closing)
        finally:
            if closing.done():
                self._close_stderr()
            else:
                closing.add_done_callback(lambda _: self._close_stderr())


async def _finish(runner: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    done, _ = await asyncio.wait({runner}, timeout=CLOSE_TIMEOUT_S)
    if not done:
        runner.cancel()
        await asyncio.wait({runner}, timeout=CLOSE_TIMEOUT_S)


class McpTools:
    """The configured MCP servers; nothing starts until tools are listed or called.

    Example:
        mcp = McpTools({"notes": McpServerConfig(command="notes-server")})
        report = await mcp.register_into(registry)   # starts the servers, lists tools
        ...
        await mcp.aclose()
    """

    def __init__(
        self, servers: Mapping[str, McpServerConfig], env_policy: EnvConfig | None = None
    ) -> None:
        self.connections = {
            name: McpConnection(name, cfg, env_policy) for name, cfg in servers.items()
        }

    async def __aenter__(self) -> McpTools:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def list_tools(self) -> tuple[list[McpTool], list[LoadProblem]]:
        """Every server's tools, servers started side by side; failures are problems."""
        names = list(self.connections)
        listings = await asyncio.gather(
            *(self.connections[name].tools() for name in names), return_exceptions=True
        )
        tools: list[McpTool] = []
        problems: list[LoadProblem] = []
        for name, listing in zip(names, listings, strict=True):
            if isinstance(listing, asyncio.CancelledError):
                raise listing
            if isinstance(listing, BaseException):
                error = listing if isinstance(listing, McpServerError) else _describe(listing)
                problems.append(LoadProblem(origin=f"MCP server {name}", error=str(error)))
            else:
                tools.extend(listing)
        return tools, problems

    async def register_into(self, registry: ToolRegistry) -> LoadReport:
        """Start the servers, list their tools and register each one not already there."""
        tools, problems = await self.list_tools()
        loaded: list[str] = []
        for item in tools:
            origin = f"MCP server {item.connection.name}"
            if len(item.name) > _MAX_NAME:
                problems.append(
                    LoadProblem(
                        origin=origin,
                        error=f"tool name {item.name!r} is longer than {_MAX_NAME} characters "
                        "and cannot be offered to a model; use a shorter server name",
                    )
                )
            elif item.name in registry:
                problems.append(
                    LoadProblem(
                        origin=origin, error=f"a tool named {item.name!r} is already registered"
                    )
                )
            else:
                registry.register(item)
                loaded.append(item.name)
        return LoadReport(loaded=tuple(loaded), problems=tuple(problems))

    async def aclose(self) -> None:
        """Stop every server that was started, side by side, each bounded.

        The closes start before the first ``await``, so cancelling the caller
        cannot stop them from running to the end (no server process is left).
        """
        closing = [asyncio.ensure_future(c.aclose()) for c in self.connections.values()]
        if closing:
            await asyncio.shield(asyncio.gather(*closing))


def to_tool_result(result: CallToolResult, settings: ToolsConfig) -> ToolResult:
    """An MCP call result as a ToolResult: text blocks joined, other blocks described."""
    parts = [_block_text(block) for block in result.content]
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return text_result("\n".join(parts), settings, is_error=result.is_error)


def _block_text(block: Any) -> str:
    match block.type:
        case "text":
            return block.text
        case "image" | "audio":
            return f"[{block.type} {block.mime_type}, {len(block.data)} base64 characters]"
        case "resource_link":
            return f"[resource {block.uri}]"
        case "resource":
            text = getattr(block.resource, "text", None)
            return text if text is not None else f"[resource {block.resource.uri}, binary]"
    return f"[{block.type} content]"


def _describe(exc: BaseException) -> str:
    """The leaf errors of an exception (the SDK raises nested ExceptionGroups)."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(dict.fromkeys(_describe(inner) for inner in exc.exceptions))
    if isinstance(exc, FileNotFoundError) and exc.filename is None:
        return "the command was not found"
    if isinstance(exc, ModuleNotFoundError) and exc.name == "mcp":
        return "the mcp package is not installed; pip install 'llmos[mcp]'"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
