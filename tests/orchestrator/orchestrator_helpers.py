"""Shared pieces of the orchestrator tests: plans, scripted routes and a real llmos to run them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from llmos import LLMOS
from llmos.config import load_settings
from llmos.engine.orchestration import orchestrator_context
from llmos.events import TOLD, Event, Notice
from llmos.modes.orchestrator.run import OrchestratorContext
from llmos.testing.scripted_router import Route, ScriptedRouter

E = TypeVar("E")

PRICED = "claude-sonnet-4-5"  # a real price table, so every call costs something
GOAL = "Research the Rust language and count its releases, then write report.md about it"


def subtask(
    sid: str, agent: str | dict[str, Any], description: str, *deps: str, expected: str = ""
) -> dict[str, Any]:
    return {
        "id": sid,
        "description": description,
        "agent": agent,
        "depends_on": list(deps),
        "expected_output": expected,
    }


def plan_text(*subtasks: dict[str, Any]) -> str:
    return json.dumps({"subtasks": list(subtasks)})


def write_then_answer(path: str, content: str, answer: str) -> list[dict[str, Any]]:
    """A subtask's learner script: one Write call, then the final answer."""
    return [
        {"tool_calls": [{"name": "Write", "input": {"file_path": path, "content": content}}]},
        {"text": answer},
    ]


THREE = plan_text(
    subtask("s1", "researcher", "Collect facts about Rust into facts.md", expected="facts.md"),
    subtask("s2", "data-analyst", "Count the Rust releases into releases.txt"),
    subtask("s3", "writer", "Write the report report.md from the facts and counts", "s1", "s2"),
)


def three_routes(plan: str = THREE) -> list[Route]:
    return [
        Route(agent="orchestrator", turns=[{"text": plan}]),
        Route(agent="synthesizer", turns=[{"text": "report.md: Rust 1.0 (2015), 80 releases."}]),
        Route(
            pattern="Collect facts about Rust",
            turns=write_then_answer("facts.md", "Rust 1.0: 2015\n", "Rust 1.0 shipped in 2015."),
        ),
        Route(
            pattern="Count the Rust releases",
            turns=write_then_answer("releases.txt", "80\n", "There were 80 releases."),
        ),
        Route(
            pattern="Write the report",
            turns=write_then_answer("report.md", "# Rust\n", "report.md is written."),
        ),
    ]


@dataclass
class Harness:
    """A booted llmos with a scripted router, its orchestrator context and every event."""

    llmos: LLMOS
    router: ScriptedRouter
    ctx: OrchestratorContext
    events: list[Event] = field(default_factory=list)

    @property
    def output(self) -> Path:
        """Where the tasks worked: the folder the test is in."""
        return self.llmos.settings.cwd

    def notices(self) -> list[str]:
        """The free-form notices only (a plan or a subtask has its own typed event)."""
        return [e.message for e in self.events if isinstance(e, Notice)]

    def told(self) -> list[str]:
        """What a person is told, typed events included, as the renderer prints it."""
        return [e.message for e in self.events if isinstance(e, TOLD)]

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def position(self, kind: type, subtask_id: str) -> int:
        """Index in ``events`` of the first ``kind`` event of ``subtask_id`` (fails if none)."""
        found = [
            i
            for i, e in enumerate(self.events)
            if isinstance(e, kind) and getattr(e, "subtask_id", None) == subtask_id
        ]
        assert found, f"no {kind.__name__} for {subtask_id}: {self.told()}"
        return found[0]

    def served(self, route: str) -> int:
        return self.router.served.count(route)

    async def close(self) -> None:
        await self.llmos.shutdown()


async def harness(
    workspace: Path, routes: list[Route], *, settings: dict[str, Any] | None = None, **ctx: Any
) -> Harness:
    """A real LLMOS (dispatcher, trace store, ledger) whose backend is ``routes``."""
    router = ScriptedRouter(routes, model=PRICED)
    overrides = {"tools.sandbox": False, **(settings or {})}
    llmos = LLMOS(settings=load_settings(workspace=workspace, overrides=overrides), backend=router)
    await llmos.boot()
    context = orchestrator_context(llmos.services, llmos.dispatcher.run, **ctx)
    found = Harness(llmos, router, context)
    llmos.subscribe(found.events.append)
    return found
