"""llmos served over MCP stdio, so other agents hand it tasks and get trace caching for free.

A calling agent (Claude Code, an IDE) sees four tools: ``run_task`` runs a goal
through one long-lived :class:`~llmos.api.LLMOS` (one per server process, so a
local model or an HTTP client stays warm between calls), ``match_trace`` says
what llmos would do without doing it, ``list_traces`` shows the trace library
and ``budget`` the economy. A task that fails, and any llmos error, comes back
as an MCP tool error carrying llmos's own message; the server keeps serving.
A tool call the security policy wants a person to approve is put to the
caller as a yes/no form (MCP elicitation); a caller without forms means no.

Only the protocol goes to stdout: the SDK's stdio transport points fd 1 at
stderr while it serves, so a stray print (or a C library's) cannot corrupt it.

Example:
    settings = load_settings(workspace="ws", overrides={"provider": "scripted"})
    asyncio.run(serve_stdio(settings))
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import AcceptedElicitation, Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CallToolResult,
    ClientCapabilities,
    ElicitationCapability,
    TextContent,
    ToolAnnotations,
)
from pydantic import BaseModel, Field, TypeAdapter

from llmos import __version__
from llmos.api import LLMOS
from llmos.call_summary import summarize_input
from llmos.config import Settings
from llmos.economy import EconomyReport, format_usd
from llmos.errors import LLMOSError
from llmos.events import TOLD, Event, ModeChosen, TaskMode, ToolCallFinished, ToolCallStarted
from llmos.mcp.wire import CheckedStdin
from llmos.memory.index import IndexEntry
from llmos.memory.summary import TraceSummary
from llmos.outcome import FailureKind, OutcomeStatus
from llmos.runtime.task import TaskResult, new_task_id

SERVER_NAME = "llmos"
#: The modes an MCP client may ask run_task for.
McpRunMode = Literal["auto", "learner", "follower"]
_REPORT_JSON = TypeAdapter(EconomyReport)

INSTRUCTIONS = """\
llmos runs tasks (files, shell commands, code) in its own workspace and remembers
every run that succeeded as a trace. A goal that matches a saved trace is replayed
for free (no LLM call); anything new is learned once with the LLM and saved.
Hand a whole task to `run_task`; use `match_trace` first when you want to know
whether it will be free; `list_traces` shows what llmos already knows how to do;
`budget` shows what was spent and saved."""

RUN_TASK_HELP = """\
Run a task through llmos: replays a saved trace for free when one matches the goal,
else learns it with the LLM (and saves the run as a trace for next time).
Use it for a self-contained job described in plain words, e.g. "Create a Python
calculator in calc.py and run it on 2+3". Files are written in llmos's workspace.
mode: "auto" (default) decides by itself; "follower" only replays and fails, with
the reason, when no trace matches; "learner" always uses the LLM.
Returns mode, outcome (success: judged done and replayable; unverified: finished but
could not be checked; failed), success, the answer text, cost_usd, saved_usd and the
trace id; a failed task is a tool error whose text says what went wrong and what to do.
When a result is wrong, call reject_trace with its trace id so it is never replayed."""

REJECT_TRACE_HELP = """\
Mark a saved trace as failed because its result was wrong: it is never replayed again
(its record stays, as advice for the next attempt). Give the trace id run_task returned
and a short reason."""

MATCH_TRACE_HELP = """\
Say what llmos would do with a goal, executing nothing: follow a saved trace (free),
learn with a near trace as a guide, or learn from scratch. Returns the decision,
confidence (0-1), the trace, slot bindings and the tool calls a replay would make.
Use it before run_task to check that a task will be free, or to see why it is not."""

LIST_TRACES_HELP = """\
List the saved traces (what llmos can already do for free), most recently used first:
id, goal, status, uses, replay success rate, dollars saved, last use.
query keeps traces whose goal contains every word of it (or whose id starts with it);
limit caps how many are returned (total says how many matched)."""

BUDGET_HELP = """\
The token economy as JSON: the budget and balance left (null when unlimited), what
LLM calls spent, what replays saved, by day, mode, model and project. Use it before a
costly task, or to report the savings of trace caching."""


class RunTaskOutput(BaseModel):
    """What ``run_task`` returns as structured content (also on a failed task)."""

    task_id: str
    mode: TaskMode = Field(description="follower, learner, guided or healed: what really ran")
    outcome: OutcomeStatus = Field(
        description="success (judged done), unverified (finished, not checkable) or failed"
    )
    failure_kind: FailureKind | None = Field(None, description="why it failed; null otherwise")
    success: bool
    text: str = Field(description="the task's final answer")
    cost_usd: float = Field(description="what the LLM calls of this run cost")
    saved_usd: float = Field(description="what a replay saved (the trace's learned cost)")
    duration_s: float
    trace_id: str | None = Field(description="the trace followed or saved, if any")
    error: str | None = Field(description="why the task failed, and what to do; null on success")
    error_type: str | None = None

    @classmethod
    def of(cls, result: TaskResult) -> RunTaskOutput:
        return cls(
            task_id=result.task_id,
            mode=result.mode,
            outcome=result.outcome.status,
            failure_kind=result.outcome.kind,
            success=result.success,
            text=result.text,
            cost_usd=result.cost_usd,
            saved_usd=result.saved_usd,
            duration_s=result.duration_s,
            trace_id=result.trace_id,
            error=result.error,
            error_type=result.error_type,
        )

    def summary(self) -> str:
        """The short human-readable text content of the tool result."""
        if self.outcome is OutcomeStatus.FAILED:
            kind = self.failure_kind.value if self.failure_kind else "error"
            return f"llmos {self.mode} failed ({kind}): {self.error or 'the task failed'}"
        trace = f" · trace {self.trace_id}" if self.trace_id else ""
        saved = f" · saved {format_usd(self.saved_usd)}" if self.saved_usd else ""
        status = "" if self.success else " · unverified (not replayed until promoted)"
        head = f"llmos {self.mode}{trace}{status} · cost {format_usd(self.cost_usd)}{saved}"
        return f"{head}\n\n{self.text}" if self.text else head


class TraceList(BaseModel):
    """What ``list_traces`` returns: the rows kept, and how many matched in all."""

    total: int
    traces: list[TraceSummary]


def select_traces(entries: list[IndexEntry], query: str | None, limit: int) -> TraceList:
    """Entries matching ``query`` (every word in the goal, or an id prefix), newest use first."""
    wanted = (query or "").strip()
    words = wanted.casefold().split()

    def matches(entry: IndexEntry) -> bool:
        goal = entry.goal.casefold()
        return entry.id.startswith(wanted) or all(word in goal for word in words)

    kept = [entry for entry in entries if matches(entry)]
    kept.sort(key=lambda entry: (entry.last_used or entry.created, entry.created), reverse=True)
    return TraceList(total=len(kept), traces=[TraceSummary.of(e) for e in kept[:limit]])


class Approval(BaseModel):
    """The form a security ``ask`` shows the caller: one yes or no."""

    approve: bool = Field(description="Let llmos run this tool call?")


class _Caller:
    """The MCP request one task runs for: its events become progress, its asks questions.

    As a bus subscriber it forwards the task's events as progress notifications
    (a no-op when the caller asked for none) and remembers the last tool call,
    so an approval question can show the exact call it is about.
    """

    def __init__(self, ctx: Context, task_id: str) -> None:
        self.ctx = ctx
        self.task_id = task_id
        self.count = 0
        self.last_call = ""

    async def __call__(self, event: Event) -> None:
        if getattr(event, "task_id", None) != self.task_id:
            return
        if isinstance(event, ToolCallStarted):
            self.last_call = f"{event.tool} {summarize_input(event.tool, event.input, 200)}"
        message = _progress_message(event)
        if message is not None:
            self.count += 1
            await self.ctx.report_progress(self.count, None, message)

    async def approve(self, tool: str, reason: str) -> bool:
        """Ask the caller (form elicitation); no answer, or a client without forms, is a no."""
        wanted = ClientCapabilities(elicitation=ElicitationCapability())
        if not self.ctx.session.check_client_capability(wanted):
            return False
        call = self.last_call.strip() or tool
        try:
            answer = await self.ctx.elicit(f"llmos needs approval for {call}: {reason}", Approval)
        except (MCPError, ValueError):
            return False
        return isinstance(answer, AcceptedElicitation) and answer.data.approve


_CALLER: ContextVar[_Caller | None] = ContextVar("llmos_mcp_caller", default=None)


async def ask_the_caller(tool: str, reason: str) -> bool:
    """The LLMOS ``ask`` handler: the MCP caller of the running task decides."""
    caller = _CALLER.get()
    return caller is not None and await caller.approve(tool, reason)


def _progress_message(event: Event) -> str | None:
    match event:
        case ModeChosen(mode=mode, trace_id=trace_id, reason=reason):
            trace = f" · trace {trace_id}" if trace_id else ""
            return f"mode {mode}{trace}: {reason}"
        case ToolCallStarted(tool=tool, input=tool_input):
            return f"▸ {tool} {summarize_input(tool, tool_input)}".rstrip()
        case ToolCallFinished(tool=tool, is_error=is_error, exit_code=exit_code):
            code = f" (exit {exit_code})" if exit_code is not None else ""
            return f"{'✗' if is_error else '✓'} {tool}{code}"
        case _ if isinstance(event, TOLD):
            return event.message
    return None


def build_server(llmos: LLMOS) -> MCPServer[None]:
    """The MCP server over ``llmos``: booted when a session starts, shut down when it ends.

    Give ``llmos`` ``ask=ask_the_caller`` so that a security ``ask`` becomes a
    question to the calling client; otherwise it is a deny.
    """

    @asynccontextmanager
    async def lifespan(_server: MCPServer[None]) -> AsyncIterator[None]:
        await llmos.boot()
        try:
            yield None
        finally:
            await llmos.shutdown()

    debug = os.environ.get("LLMOS_DEBUG") == "1"
    server: MCPServer[None] = MCPServer(
        SERVER_NAME,
        title="llmos",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level="DEBUG" if debug else "WARNING",
    )
    reads_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(
        description=RUN_TASK_HELP,
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True),
    )
    async def run_task(
        goal: Annotated[str, Field(description="What to do, in plain words.")],
        ctx: Context,
        mode: Annotated[McpRunMode, Field(description="auto, learner or follower.")] = "auto",
    ) -> Annotated[CallToolResult, RunTaskOutput]:
        if not goal.strip():
            raise ToolError('the goal is empty; say what to do, e.g. "Create hello.txt"')
        caller = _Caller(ctx, new_task_id())
        unsubscribe = llmos.subscribe(caller)
        token = _CALLER.set(caller)
        try:
            result = await llmos.execute(goal, mode=mode, task_id=caller.task_id)
        except LLMOSError as exc:
            raise ToolError(str(exc)) from exc
        finally:
            _CALLER.reset(token)
            unsubscribe()
        output = RunTaskOutput.of(result)
        return CallToolResult(
            content=[TextContent(type="text", text=output.summary())],
            structured_content=output.model_dump(mode="json"),
            is_error=output.outcome is OutcomeStatus.FAILED,
        )

    @server.tool(
        description=REJECT_TRACE_HELP,
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False),
    )
    async def reject_trace(
        trace_id: Annotated[str, Field(description="The trace id (or a unique prefix).")],
        reason: Annotated[str, Field(description="What was wrong with the result.")],
    ) -> TraceSummary:
        try:
            await llmos.boot()
            library = llmos.traces()
            trace = await asyncio.to_thread(library.reject, trace_id, reason)
            entry = await asyncio.to_thread(library.entry, trace.id)
        except LLMOSError as exc:
            raise ToolError(str(exc)) from exc
        return TraceSummary.of(entry)

    @server.tool(description=MATCH_TRACE_HELP, annotations=reads_only)
    async def match_trace(
        goal: Annotated[str, Field(description="The goal run_task would be given.")],
    ) -> dict[str, Any]:
        try:
            return (await llmos.match(goal)).to_json()
        except LLMOSError as exc:
            raise ToolError(str(exc)) from exc

    @server.tool(description=LIST_TRACES_HELP, annotations=reads_only)
    async def list_traces(
        query: Annotated[
            str | None, Field(description="Words the goal must contain, or an id prefix.")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="At most this many.")] = 20,
    ) -> TraceList:
        try:
            entries = await asyncio.to_thread(llmos.traces().entries)
        except LLMOSError as exc:
            raise ToolError(str(exc)) from exc
        return select_traces(entries, query, limit)

    @server.tool(description=BUDGET_HELP, annotations=reads_only)
    async def budget() -> dict[str, Any]:
        try:
            report = await asyncio.to_thread(llmos.budget().report)
        except LLMOSError as exc:
            raise ToolError(str(exc)) from exc
        return _REPORT_JSON.dump_python(report, mode="json")

    return server


async def serve_stdio(settings: Settings) -> None:
    """Serve one MCP session on stdin/stdout until the client closes it.

    Lines are checked on the way in (:mod:`llmos.mcp.wire`): a malformed one
    gets a JSON-RPC error instead of silence.
    """
    server = build_server(LLMOS(settings=settings, ask=ask_the_caller))
    tools = {
        tool.name: frozenset((tool.input_schema or {}).get("properties", {}))
        for tool in await server.list_tools()
    }
    stdin = CheckedStdin(sys.stdin.buffer, tools)
    # As MCPServer.run_stdio_async, with the checked stdin (the SDK offers no other seam).
    lowlevel = server._lowlevel_server
    async with stdio_server(stdin=stdin) as (read_stream, write_stream):  # type: ignore[arg-type]
        stdin.replies = write_stream
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
