"""What llmos knows: the trace library, matching, the economy and the agents."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from markdown_it import MarkdownIt
from pydantic import TypeAdapter

from llmos.agents import AgentLibrary
from llmos.api import LLMOS
from llmos.economy import EconomyReport
from llmos.errors import TraceNotFound
from llmos.memory.index import IndexEntry
from llmos.memory.library import TraceLibrary
from llmos.memory.normalize import tokenize
from llmos.memory.similarity import terms_of
from llmos.memory.summary import TraceSummary
from llmos.memory.trace_format import render_trace
from llmos.server.schemas import (
    AgentProblemView,
    AgentsView,
    AgentView,
    MatchRequest,
    RejectRequest,
    TraceDetail,
)

router = APIRouter()
_REPORT = TypeAdapter(EconomyReport)
# CommonMark with raw HTML switched off: a goal or a tool output cannot inject markup.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def llmos_of(request: Request) -> LLMOS:
    return request.app.state.llmos


Instance = Annotated[LLMOS, Depends(llmos_of)]


def search_traces(library: TraceLibrary, query: str, limit: int) -> list[IndexEntry]:
    """Traces for a search box: full-text hits (best first), then goals containing the text.

    Without a query: the most recent traces first. Every store of the library
    is searched (a project's before the workspace's).
    """
    newest = sorted(
        (entry for store in library.stores for entry in store.entries()),
        key=lambda entry: entry.created,
        reverse=True,
    )
    if not query.strip():
        return newest[:limit]
    terms = terms_of(tokenize(query)).search_terms
    found = {e.id: e for store in library.stores for e in store.index.search(terms, limit)}
    needle = query.casefold().strip()
    for entry in newest:
        if needle in entry.goal.casefold() or entry.id.startswith(needle):
            found.setdefault(entry.id, entry)
    return list(found.values())[:limit]


@router.get("/traces", tags=["traces"], response_model=list[TraceSummary])
async def list_traces(
    llmos: Instance,
    q: Annotated[str, Query(description="Words of the goal, or an id prefix.")] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TraceSummary]:
    """The trace library with each trace's replay history; ``q`` searches it."""
    entries = await asyncio.to_thread(search_traces, llmos.traces(), q, limit)
    return [TraceSummary.of(entry) for entry in entries]


@router.get("/traces/{trace_id}", tags=["traces"], response_model=TraceDetail)
async def get_trace(trace_id: str, llmos: Instance) -> TraceDetail:
    """One trace (id or unique prefix): its metadata, its file, and its body as HTML."""
    library = llmos.traces()
    try:
        trace = await asyncio.to_thread(lambda: library.store_of(trace_id).load(trace_id))
    except TraceNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    text = render_trace(trace)
    _, front, body = text.split("---\n", 2)
    meta: dict[str, Any] = yaml.safe_load(front) or {}
    return TraceDetail(id=trace.id, meta=meta, markdown=text, html=_MARKDOWN.render(body))


@router.post("/traces/{trace_id}/reject", tags=["traces"], response_model=TraceSummary)
async def reject_trace(trace_id: str, body: RejectRequest, llmos: Instance) -> TraceSummary:
    """Say a trace's result was wrong: it becomes ``failed`` and is never followed again."""
    library = llmos.traces()
    try:
        trace = await asyncio.to_thread(library.reject, trace_id, body.reason)
        entry = await asyncio.to_thread(library.entry, trace.id)
    except TraceNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return TraceSummary.of(entry)


@router.post("/traces/match", tags=["traces"])
async def match_goal(body: MatchRequest, llmos: Instance) -> dict[str, Any]:
    """What llmos would do with a goal (follow, guide or learn); runs nothing.

    The same object as ``llmos traces match --json``.
    """
    return (await llmos.match(body.goal)).to_json()


@router.get("/budget", tags=["economy"])
async def budget(llmos: Instance) -> dict[str, Any]:
    """The economy: budget, balance, spent and saved, by day, mode, model and project.

    The same object as ``llmos budget --json``.
    """
    report = await asyncio.to_thread(llmos.budget().report)
    return _REPORT.dump_python(report, mode="json")


@router.get("/agents", tags=["agents"], response_model=AgentsView)
async def agents(llmos: Instance) -> AgentsView:
    """The workspace's agents and the shipped ones; broken files are listed with why."""
    library = AgentLibrary.for_folders(None, llmos.workspace.agents)
    found, problems = await asyncio.to_thread(lambda: (library.agents(), library.problems))
    return AgentsView(
        agents=[
            AgentView(
                name=agent.name,
                description=agent.description,
                tools=None if agent.tools is None else list(agent.tools),
                model=agent.model,
                max_turns=agent.max_turns,
                source=agent.source,
                path=None if agent.path is None else str(agent.path),
            )
            for agent in found
        ],
        problems=[AgentProblemView(path=str(p.path), message=p.message) for p in problems],
    )
