"""Orchestration: a plan of N independent subtasks, run in parallel against sequentially.

The scripted router plays the planner, each subtask's agent (one Write, then
an answer) and the synthesiser, every model call taking the same simulated
latency. The same plan runs with ``concurrency=1`` and ``concurrency=N``, each
on a fresh workspace (so nothing is replayed); the speed-up is their ratio.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench.folders import work_folder
from bench.report import Scale
from llmos.api import LLMOS
from llmos.backends.base import Backend, BackendEvent, BackendRequest
from llmos.config import load_settings
from llmos.engine.orchestration import orchestrator_context
from llmos.modes.orchestrator.run import run_orchestrator
from llmos.testing.scripted_router import Route, ScriptedRouter

MODEL = "claude-sonnet-4-5"
GOAL = "Write the chapters of the operations handbook, then summarise what was written"
#: Unlike tasks, so no subtask is served by another's trace (that would hide the model time).
CHAPTERS = (
    ("install.md", "Draft the installation guide for new servers"),
    ("config.md", "List every configuration option with its default"),
    ("ports.md", "Explain which network ports the service opens and why"),
    ("storage.md", "Describe how data is laid out on disk"),
    ("security.md", "Summarise the threat model and the main defences"),
    ("monitoring.md", "Outline what to watch on the dashboards at night"),
    ("backup.md", "Document the weekly backup and restore drill"),
    ("upgrade.md", "Record the rolling upgrade procedure step by step"),
)


class SlowBackend(Backend):
    """Another backend's turns, each after ``delay_s`` (a model's time to answer)."""

    name = "scripted"
    estimated_usage = True

    def __init__(self, inner: Backend, delay_s: float) -> None:
        super().__init__(inner.model)
        self.inner = inner
        self.delay_s = delay_s

    async def stream(self, request: BackendRequest) -> AsyncIterator[BackendEvent]:
        await asyncio.sleep(self.delay_s)
        async for event in self.inner.stream(request):
            yield event


def _routes(chapters: tuple[tuple[str, str], ...]) -> list[Route]:
    plan = {
        "subtasks": [
            {
                "id": f"s{n}",
                "description": f"{what} in {path}",
                "agent": "writer",
                "depends_on": [],
                "expected_output": path,
            }
            for n, (path, what) in enumerate(chapters, start=1)
        ]
    }
    routes = [
        Route(agent="orchestrator", turns=[{"text": json.dumps(plan)}]),
        Route(agent="synthesizer", turns=[{"text": f"{len(chapters)} chapters written."}]),
    ]
    for path, what in chapters:
        routes.append(
            Route(
                pattern=what,
                turns=[
                    {
                        "tool_calls": [
                            {
                                "name": "Write",
                                "input": {"file_path": path, "content": f"# {what}\n"},
                            }
                        ]
                    },
                    {"text": f"{path} is written."},
                ],
            )
        )
    return routes


async def _timed(
    folder: Path, chapters: tuple[tuple[str, str], ...], concurrency: int, delay_s: float
) -> tuple[float, bool, int]:
    """Seconds the orchestration took, whether every chapter was written, model calls."""
    router = ScriptedRouter(_routes(chapters), model=MODEL)
    backend = SlowBackend(router, delay_s)
    settings = load_settings(workspace=folder, cwd=work_folder(folder), env={})
    async with LLMOS(settings=settings, backend=backend) as llmos:
        ctx = orchestrator_context(llmos.services, llmos.dispatcher.run, concurrency=concurrency)
        started = time.perf_counter()
        result = await run_orchestrator(GOAL, ctx=ctx)
        elapsed = time.perf_counter() - started
        made = all((llmos.settings.cwd / path).is_file() for path, _ in chapters)
    return elapsed, result.success and made, len(router.served)


def measure(scale: Scale) -> dict[str, Any]:
    """The ``orchestration`` section."""
    chapters = CHAPTERS if scale.name != "tiny" else CHAPTERS[:3]
    delay_s = 0.3 if scale.name != "tiny" else 0.05
    with tempfile.TemporaryDirectory(prefix="llmos-bench-orch-") as folder:
        sequential_s, ok_sequential, calls_sequential = asyncio.run(
            _timed(Path(folder) / "sequential", chapters, 1, delay_s)
        )
        parallel_s, ok_parallel, calls_parallel = asyncio.run(
            _timed(Path(folder) / "parallel", chapters, len(chapters), delay_s)
        )
    return {
        "orchestration": {
            "subtasks": len(chapters),
            "model_latency_s": delay_s,
            "model_calls_sequential": calls_sequential,
            "model_calls_parallel": calls_parallel,
            "sequential_s": round(sequential_s, 2),
            "parallel_s": round(parallel_s, 2),
            "speedup": round(sequential_s / parallel_s, 2),
            "all_succeeded": ok_sequential and ok_parallel,
        }
    }
