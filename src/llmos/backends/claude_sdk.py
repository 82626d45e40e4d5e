"""The ``claude-sdk`` backend: the Claude Code CLI runs the loop, llmos attaches by hooks.

The Claude Agent SDK starts the bundled Claude Code CLI and talks to it over
its stream-json control protocol. Claude Code runs the whole agent loop with
its own tools; llmos takes part through SDK hook callbacks (see
:mod:`llmos.backends._claude_hooks`), so every tool call still passes llmos's
hook pipeline and lands in the trace. Plugin tools that Claude Code lacks are
offered as an in-process SDK MCP server, llmos agents become SDK
``AgentDefinition``s, and cost comes from the CLI's own ``ResultMessage``.

Starting the CLI costs a noticeable fraction of a second, so one warm client is
kept per backend (per shell session) and reused: between tasks the
conversation is reset with ``/clear``. A task whose working directory, system
prompt, tools or agents differ from the warm client's starts a new one.

Example:
    backend = ClaudeSDKBackend("claude-sonnet-4-5", options={"max_turns": 30})
    outcome = await backend.run_agent(run)   # run: llmos.backends.base.AgentRun
    await backend.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

from llmos.backends._claude_hooks import (
    PLUGIN_SERVER,
    ActiveRun,
    HookBridge,
    PluginResults,
)
from llmos.backends._install import install_command
from llmos.backends.base import CONNECT_TIMEOUT_S, AgentBackend, AgentOutcome, AgentRun
from llmos.errors import AuthError, BackendError, BackendUnavailable, ConfigError, RateLimited
from llmos.events import Event, TextStreamed, UsageUpdated
from llmos.hooks.inputs import HookContext, PostLLMCallInput
from llmos.hooks.pipeline import HookPipeline
from llmos.messages import Usage
from llmos.tools.base import Tool, ToolContext, ToolRegistry, ToolResult

if TYPE_CHECKING:
    from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient, McpSdkServerConfig

BACKEND_NAME = "claude-sdk"
INSTALL_HINT = install_command("claude")
#: SDK options the backend sets itself from the run; the rest come from ``[claude]``.
#: ``verbatim_prompts`` is kept off so that the warm client's ``/clear`` stays a command.
_OWNED_OPTIONS = frozenset(
    {
        "verbatim_prompts",
        "cwd",
        "system_prompt",
        "hooks",
        "agents",
        "include_partial_messages",
        "stderr",
        "can_use_tool",
    }
)
_DEFAULT_PERMISSION_MODE = "acceptEdits"
_DEFAULT_BASE_URL = "https://api.anthropic.com"
_STDERR_LINES = 40
#: How long the CLI may take to start and answer the SDK's initialize request (the SDK's
#: own bound is 60 s). About 2 s on a busy machine; a CLI stuck past this is broken.
START_TIMEOUT_S = 30.0
#: Upper bound on closing a client; the SDK bounds its own transport close as well.
_CLOSE_TIMEOUT_S = 30.0
_INTERRUPT_TIMEOUT_S = 3.0


def sdk_client(options: ClaudeAgentOptions) -> ClaudeSDKClient:
    """A client for one CLI process (not started yet)."""
    return cast("ClaudeSDKClient", _sdk().ClaudeSDKClient(options))


def _sdk() -> ModuleType:
    """Import the Claude Agent SDK, or say how to install it."""
    try:
        import claude_agent_sdk
    except ImportError as exc:
        raise BackendUnavailable(
            f"the claude-sdk backend needs the Claude Agent SDK ({exc}); "
            f"install it with: {INSTALL_HINT}",
            backend=BACKEND_NAME,
        ) from exc
    return claude_agent_sdk


class AgentSpec(Protocol):
    """What the backend reads from an llmos agent definition."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def tools(self) -> Sequence[str] | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def prompt(self) -> str: ...


OnToolResult = Callable[[str, Mapping[str, Any], ToolResult], None]


def sdk_mcp_server_for(
    tools: Iterable[Tool],
    ctx: ToolContext,
    *,
    name: str = PLUGIN_SERVER,
    on_result: OnToolResult | None = None,
) -> McpSdkServerConfig:
    """Offer llmos tools to Claude Code as an in-process SDK MCP server.

    Claude Code sees each tool as ``mcp__<name>__<tool>`` with the tool's own
    JSON schema; calls run through a :class:`~llmos.tools.base.ToolRegistry` in
    ``ctx`` (validation errors and tool failures come back as error results).
    ``on_result`` receives every call's full result, which the MCP wire reduces
    to text.

    Example:
        server = sdk_mcp_server_for([WordCount()], ToolContext(cwd=cwd, workspace=ws))
        options = ClaudeAgentOptions(mcp_servers={"llmos": server})
    """
    sdk = _sdk()
    registry = ToolRegistry(tools)

    def wrap(tool: Tool) -> Any:
        async def handler(args: dict[str, Any]) -> dict[str, Any]:
            result = await registry.execute(tool.name, args, ctx)
            if on_result is not None:
                on_result(tool.name, args, result)
            return {
                "content": [{"type": "text", "text": result.content}],
                "is_error": result.is_error,
            }

        return sdk.tool(tool.name, tool.description, tool.input_schema())(handler)

    return cast(
        "McpSdkServerConfig", sdk.create_sdk_mcp_server(name, tools=[wrap(t) for t in registry])
    )


def _agent_definitions(sdk: ModuleType, agents: Sequence[object]) -> dict[str, Any]:
    definitions: dict[str, Any] = {}
    for agent in cast("Sequence[AgentSpec]", agents):
        definitions[agent.name] = sdk.AgentDefinition(
            description=agent.description,
            prompt=agent.prompt,
            tools=list(agent.tools) if agent.tools is not None else None,
            model=agent.model or None,
        )
    return definitions


def _agents_key(agents: Sequence[object]) -> tuple[Any, ...]:
    return tuple(
        (a.name, a.description, tuple(a.tools or ()), a.model, a.prompt)
        for a in cast("Sequence[AgentSpec]", agents)
    )


def _plain(value: Any) -> Any:
    """Config values (mappings, tuples) in the plain shapes the SDK expects."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _usage_of(model_usage: Mapping[str, Any]) -> Usage:
    return Usage(
        input_tokens=int(model_usage.get("inputTokens", 0)),
        output_tokens=int(model_usage.get("outputTokens", 0)),
        cache_read_tokens=int(model_usage.get("cacheReadInputTokens", 0)),
        cache_write_tokens=int(model_usage.get("cacheCreationInputTokens", 0)),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _SessionKey:
    """What a CLI process is started with; a run with another key needs another process."""

    cwd: str
    system: str
    tools: tuple[str, ...]
    plugins: tuple[str, ...]
    agents: tuple[Any, ...]
    max_turns: int


class ClaudeSDKBackend(AgentBackend):
    """The Claude Agent SDK as an llmos :class:`~llmos.backends.base.AgentBackend`.

    ``options`` is the ``[claude]`` config table: any ``ClaudeAgentOptions``
    field (``max_turns``, ``env``, ``allowed_tools``, ``permission_mode``,
    ``cli_path``, ``setting_sources``, ``max_budget_usd`` …) except those the
    backend sets from the run. ``permission_mode`` defaults to ``acceptEdits``:
    llmos's hooks allow or deny every tool call. ``tools`` are llmos tools that
    Claude Code lacks, offered to it as ``mcp__llmos__<name>`` when a run
    names them. ``start_timeout`` bounds the CLI's start; ``connect_timeout``
    bounds, before the model's first answer, the CLI's silence and its failed
    attempts to reach the model server (offline, the CLI itself retries for
    minutes).

    Example:
        backend = ClaudeSDKBackend(options={"env": {"ANTHROPIC_BASE_URL": url}})
        outcome = await backend.run_agent(run)
        await backend.aclose()
    """

    name: ClassVar[str] = BACKEND_NAME

    def __init__(
        self,
        model: str | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        tools: Iterable[Tool] = (),
        connect_timeout: float = CONNECT_TIMEOUT_S,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        sdk = _sdk()
        # None means "not set" (a ``[claude]`` key left empty): the SDK's default applies.
        settings = {str(k): _plain(v) for k, v in (options or {}).items() if v is not None}
        known = {f.name for f in dataclasses.fields(sdk.ClaudeAgentOptions)} - _OWNED_OPTIONS
        for key in settings:
            if key not in known:
                raise ConfigError(
                    f"unknown [claude] setting {key!r}; use a Claude Agent SDK option: "
                    f"{', '.join(sorted(known))}",
                    key=f"claude.{key}",
                )
        configured_model = settings.pop("model", None)
        super().__init__(model or configured_model or "")
        settings.setdefault("permission_mode", _DEFAULT_PERMISSION_MODE)
        if settings["permission_mode"] == "bypassPermissions" and os.geteuid() == 0:
            raise ConfigError(
                "[claude] permission_mode 'bypassPermissions' is refused by the Claude Code "
                "CLI when running as root; use 'acceptEdits' (llmos's hooks still decide "
                "every tool call)",
                key="claude.permission_mode",
            )
        self._settings = settings
        self.connect_timeout = connect_timeout
        self.start_timeout = start_timeout
        env = settings.get("env") or {}
        self.server_url = str(
            env.get("ANTHROPIC_BASE_URL")
            or os.environ.get("ANTHROPIC_BASE_URL")
            or _DEFAULT_BASE_URL
        )
        self._plugin_tools = {tool.name: tool for tool in tools}
        self._idle: _ClaudeSession | None = None
        self._closed = False
        self._cli_starts = 0

    @property
    def cli_starts(self) -> int:
        """How many CLI processes this backend has started (1 while the warm one serves)."""
        return self._cli_starts

    async def run_agent(self, run: AgentRun) -> AgentOutcome:
        """Run one task on a warm CLI process (started on first use) and report its cost."""
        if self._closed:
            raise BackendError(
                "the claude-sdk backend was closed; create a new one", backend=self.name
            )
        session = await self._checkout(run)
        try:
            outcome = await session.run(run)
        except BaseException:
            await session.close(interrupt=True)
            raise
        await self._checkin(session)
        return outcome

    async def aclose(self) -> None:
        """Stop the warm CLI process."""
        self._closed = True
        session, self._idle = self._idle, None
        if session is not None:
            await session.close()

    def _key_for(self, run: AgentRun) -> _SessionKey:
        offered = set(run.tools)
        return _SessionKey(
            cwd=str(Path(run.cwd).resolve()),
            system=run.system,
            tools=tuple(t for t in run.tools if t not in self._plugin_tools),
            plugins=tuple(sorted(name for name in self._plugin_tools if name in offered)),
            agents=_agents_key(run.agents),
            max_turns=run.max_turns,
        )

    async def _checkout(self, run: AgentRun) -> _ClaudeSession:
        key = self._key_for(run)
        session, self._idle = self._idle, None
        if session is not None and session.key == key:
            return session
        if session is not None:
            await session.close()
        bridge = HookBridge(PluginResults())
        stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        options = self._options_for(run, key, bridge, stderr.append)
        self._cli_starts += 1
        session = _ClaudeSession(sdk_client(options), bridge, key, stderr, self)
        await session.start()
        return session

    async def _checkin(self, session: _ClaudeSession) -> None:
        """Keep the session warm, unless another one already is (concurrent runs)."""
        if self._idle is None and not self._closed:
            self._idle = session
        else:
            await session.close()

    def _options_for(
        self,
        run: AgentRun,
        key: _SessionKey,
        bridge: HookBridge,
        on_stderr: Callable[[str], None],
    ) -> ClaudeAgentOptions:
        """The SDK options for a CLI process that serves runs with ``key``."""
        sdk = _sdk()
        settings = dict(self._settings)
        settings.setdefault("max_turns", key.max_turns)
        settings.setdefault("tools", [*key.tools, *(["Agent"] if run.agents else [])])
        mcp_servers = dict(settings.pop("mcp_servers", None) or {})
        if key.plugins:
            hook_ctx = cast(HookContext, run.hook_ctx)
            mcp_servers[PLUGIN_SERVER] = sdk_mcp_server_for(
                (self._plugin_tools[name] for name in key.plugins),
                ToolContext(cwd=Path(key.cwd), workspace=hook_ctx.workspace),
                on_result=bridge.plugin_results.put,
            )
        return cast(
            "ClaudeAgentOptions",
            sdk.ClaudeAgentOptions(
                **settings,
                model=self.model or None,
                cwd=key.cwd,
                system_prompt={"type": "preset", "preset": "claude_code", "append": key.system},
                mcp_servers=mcp_servers,
                agents=_agent_definitions(sdk, run.agents) or None,
                hooks=bridge.matchers(sdk.HookMatcher),
                include_partial_messages=True,
                stderr=on_stderr,
            ),
        )


class _ClaudeSession:
    """One connected Claude Code CLI process and the hook bridge it calls back into."""

    def __init__(
        self,
        client: ClaudeSDKClient,
        bridge: HookBridge,
        key: _SessionKey,
        stderr: deque[str],
        backend: ClaudeSDKBackend,
    ) -> None:
        self.client = client
        self.bridge = bridge
        self.key = key
        self.stderr = stderr
        self.connect_timeout = backend.connect_timeout
        self.start_timeout = backend.start_timeout
        self.server_url = backend.server_url
        self.used = False
        #: When the CLI was started: a fresh CLI's first task counts its start-up
        #: against connect_timeout too, so offline fails within it, start included.
        self.started_at = asyncio.get_running_loop().time()

    async def start(self) -> None:
        """Start the CLI process and go through the SDK's initialize handshake, bounded.

        The SDK waits at least 60 s for a CLI that does not answer; the
        client's ``connect`` stops the process when it is cut short.
        """
        sdk = _sdk()
        try:
            async with asyncio.timeout(self.start_timeout):
                await self.client.connect()
        except TimeoutError as exc:
            raise BackendError(
                f"the Claude Code CLI did not answer within {self.start_timeout:g} s of "
                f"starting{_stderr_note(self.stderr)}\nCheck that the CLI runs "
                "([claude] cli_path, extra_args).",
                backend=BACKEND_NAME,
            ) from exc
        except sdk.ClaudeSDKError as exc:
            raise _translate(exc, self.stderr) from exc

    async def run(self, run: AgentRun) -> AgentOutcome:
        sdk = _sdk()
        publish = cast(Callable[[Event], Awaitable[None]], run.publish)
        hook_ctx = cast(HookContext, run.hook_ctx)
        transcript = _Transcript(hook_ctx, cast(HookPipeline, run.hooks), publish)
        try:
            since = None if self.used else self.started_at
            if self.used:
                await self._reset()
            self.used = True
            self.bridge.active = ActiveRun(
                task_id=hook_ctx.task_id,
                pipeline=cast(HookPipeline, run.hooks),
                ctx=hook_ctx,
                publish=publish,
                cwd=Path(self.key.cwd),
            )
            await self.client.query(run.goal)
            async for message in self._answers(since):
                await transcript.take(message)
        except sdk.ClaudeSDKError as exc:
            raise _translate(exc, self.stderr) from exc
        finally:
            self.bridge.active = None
        return await transcript.outcome(self.stderr)

    async def _answers(self, since: float | None) -> AsyncIterator[Any]:
        """The CLI's messages for one query; a CLI that stays silent, or cannot reach the
        model server, fails within ``connect_timeout``.

        Until the model's first answer the CLI reports each failed attempt as an
        ``api_retry`` message; one without an HTTP status means no connection
        (offline, a wrong base URL). A reachable server that is slow or
        overloaded is waited for: the watchdog bounds that. Silence counts from
        now; failed attempts from ``since`` (the CLI's start), else from now.
        """
        sdk = _sdk()
        now = asyncio.get_running_loop().time()
        silent_until = now + self.connect_timeout
        unreachable_until = (now if since is None else since) + self.connect_timeout
        messages = aiter(self.client.receive_response())
        heard = answered = False
        unreachable = 0
        while True:
            deadline = None
            if not heard:
                deadline = silent_until
            elif unreachable and not answered:
                deadline = unreachable_until
            try:
                async with asyncio.timeout_at(deadline):
                    message = await anext(messages)
            except StopAsyncIteration:
                return
            except TimeoutError as exc:
                raise self._no_answer(unreachable) from exc
            heard = True
            if isinstance(message, sdk.SystemMessage) and message.subtype == "api_retry":
                unreachable = unreachable + 1 if message.data.get("error_status") is None else 0
            elif not isinstance(message, sdk.SystemMessage):
                answered = True
            yield message

    def _no_answer(self, unreachable: int) -> BackendError:
        if unreachable:
            return BackendError(
                f"the Claude Code CLI cannot reach the model server at {self.server_url} "
                f"({unreachable} failed attempts within {self.connect_timeout:g} s); check the "
                "network connection, ANTHROPIC_BASE_URL (or [claude] env) and any proxy "
                "(HTTPS_PROXY); offline, use --provider local",
                backend=BACKEND_NAME,
            )
        return BackendError(
            f"the Claude Code CLI sent nothing for {self.connect_timeout:g} s after the task "
            f"was given{_stderr_note(self.stderr)}\nCheck that the CLI runs ([claude] "
            "cli_path, extra_args), or raise connect_timeout in llmos.toml.",
            backend=BACKEND_NAME,
        )

    async def _reset(self) -> None:
        """Start a fresh conversation in the warm process (and reset its cost counter)."""
        await self.client.query("/clear")
        async for _ in self.client.receive_response():
            pass

    async def close(self, *, interrupt: bool = False) -> None:
        """Stop the CLI process; bounded, and shielded so a cancelled run still cleans up.

        ``interrupt`` first aborts the turn in progress: a CLI busy with a model
        call would otherwise sit out the SDK's grace period before it is stopped.
        """
        closing = asyncio.ensure_future(self._shutdown(interrupt))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await asyncio.shield(closing)

    async def _shutdown(self, interrupt: bool) -> None:
        errors = (TimeoutError, _sdk().ClaudeSDKError, OSError)
        if interrupt:
            with contextlib.suppress(*errors):
                async with asyncio.timeout(_INTERRUPT_TIMEOUT_S):
                    await self.client.interrupt()
        with contextlib.suppress(*errors):
            await self.client.disconnect()


class _Transcript:
    """Reads one run's message stream: streams text, and sums up the result."""

    def __init__(
        self, ctx: HookContext, pipeline: HookPipeline, publish: Callable[[Event], Awaitable[None]]
    ) -> None:
        self.ctx = ctx
        self.pipeline = pipeline
        self.publish = publish
        self.model = ""
        self.last_text = ""
        self.result: Any = None

    async def take(self, message: Any) -> None:
        sdk = _sdk()
        if isinstance(message, sdk.StreamEvent):
            event = message.event
            delta = event.get("delta") or {}
            if (
                message.parent_tool_use_id is None
                and event.get("type") == "content_block_delta"
                and delta.get("type") == "text_delta"
            ):
                await self.publish(TextStreamed(task_id=self.ctx.task_id, text=delta["text"]))
        elif isinstance(message, sdk.SystemMessage) and message.subtype == "init":
            self.model = str(message.data.get("model", self.model))
        elif isinstance(message, sdk.AssistantMessage) and message.parent_tool_use_id is None:
            text = "".join(b.text for b in message.content if isinstance(b, sdk.TextBlock))
            self.last_text = text or self.last_text
        elif isinstance(message, sdk.ResultMessage):
            self.result = message

    async def outcome(self, stderr: deque[str]) -> AgentOutcome:
        result = self.result
        if result is None:
            raise BackendError(
                f"the Claude Code CLI ended the run without a result message{_stderr_note(stderr)}",
                backend=BACKEND_NAME,
            )
        usage, cost = await self._account(result)
        model = self.model or next(iter(result.model_usage or {}), "")
        text = result.result if result.result is not None else self.last_text
        if result.is_error and result.api_error_status is not None:
            raise _api_error(result.api_error_status, text)
        error = None
        if result.is_error or result.subtype != "success":
            error = _run_error(result, text)
        return AgentOutcome(
            text=text,
            usage=usage,
            cost_usd=cost,
            success=error is None,
            model=model,
            turns=result.num_turns,
            error=error,
        )

    async def _account(self, result: Any) -> tuple[Usage, float]:
        """Publish usage per model (sub-agents' models included) and return the totals."""
        total_usage, running = Usage(), 0.0
        for model, data in (result.model_usage or {}).items():
            usage, cost = _usage_of(data), float(data.get("costUSD", 0.0))
            total_usage += usage
            running += cost
            await self.publish(
                UsageUpdated(
                    task_id=self.ctx.task_id,
                    model=model,
                    usage=usage,
                    cost_usd=cost,
                    total_cost_usd=running,
                )
            )
            await self.pipeline.notify(
                PostLLMCallInput(ctx=self.ctx, usage=usage, cost_usd=cost, model=model)
            )
        total_cost = result.total_cost_usd if result.total_cost_usd is not None else running
        return total_usage, float(total_cost)


def _stderr_note(stderr: Iterable[str]) -> str:
    lines = [line for line in stderr if line.strip()]
    return "; the CLI's last error output:\n" + "\n".join(lines[-20:]) if lines else ""


def _run_error(result: Any, text: str) -> str:
    if result.subtype == "error_max_turns":
        return (
            f"stopped after {result.num_turns} turns without a final answer; raise the limit "
            "with claude.max_turns (or learner.max_turns) or simplify the goal"
        )
    detail = "; ".join(result.errors or []) or text or result.subtype
    return f"the Claude Code run ended with an error ({result.subtype}): {detail}"


def _api_error(status: int, text: str) -> BackendError:
    """A model call the CLI gave up on, as the typed llmos error for its status."""
    if status in (401, 403):
        return AuthError(
            f"the model server refused the credentials (HTTP {status}): {text}. "
            "Check ANTHROPIC_API_KEY (or [claude] env) and ANTHROPIC_BASE_URL.",
            backend=BACKEND_NAME,
            status=status,
        )
    if status == 429:
        return RateLimited(
            f"the model server kept rate-limiting the Claude Code CLI: {text}. Wait and retry.",
            backend=BACKEND_NAME,
        )
    return BackendError(
        f"the Claude Code CLI's model call failed (HTTP {status}): {text}",
        backend=BACKEND_NAME,
        status=status,
    )


def _translate(exc: Exception, stderr: Iterable[str]) -> BackendError:
    """An SDK error as an llmos error that says what to do."""
    sdk = _sdk()
    if isinstance(exc, sdk.CLINotFoundError):
        return BackendUnavailable(
            f"the Claude Code CLI was not found ({exc}); reinstall the bundled CLI with "
            f"{INSTALL_HINT}, or point [claude] cli_path at a working `claude`",
            backend=BACKEND_NAME,
        )
    exit_code = getattr(exc, "exit_code", None)
    code = f" (exit code {exit_code})" if exit_code is not None else ""
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return BackendError(
        f"the Claude Code CLI failed{code}: {first_line}{_stderr_note(stderr)}\n"
        "Check the [claude] settings (cli_path, env, extra_args, permission_mode).",
        backend=BACKEND_NAME,
    )
