"""Savings on a realistic workload: always-Learner against llmos ``auto``.

Both passes run the same task sequence (:mod:`bench.workload_data`) through
the Python API, each task in a fresh working directory inside the workspace,
on the simulated model (:mod:`bench.simulated_model`) priced as a real one.
Every task is checked against its own reference files.

A *false follow* is a Follower run that fails its check, or that replays a
trace learned for another job (a near miss served by its family's trace, a
new family served by an old one). It must be 0.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.folders import work_folder
from bench.report import Scale
from bench.simulated_model import SimulatedModel
from bench.workload_data import Checker, WorkloadTask, build_workload, prepare
from llmos.api import LLMOS
from llmos.config import load_settings

#: A real model's price table (claude-sonnet-4-5: $3 / $15 per million tokens in / out).
MODEL = "claude-sonnet-4-5"
#: Published anchor: agentic plan caching (Zhang et al., 2025) cuts cost ~50% at ~97% quality.
ANCHOR = {"cost_reduction_pct": 50.0, "quality_pct_of_optimal": 97.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskOutcome:
    task: WorkloadTask
    mode: str
    passed: bool
    cost_usd: float
    saved_usd: float
    false_follow: bool
    problems: tuple[str, ...] = ()
    followed: str | None = None  # the goal of the trace a follow replayed
    judged: str = "success"  # the outcome llmos reported: success, unverified or failed


@dataclass(slots=True, kw_only=True)
class Pass:
    """One run of the whole sequence in one mode."""

    mode: str
    wall_s: float = 0.0
    turns: int = 0
    plans: dict[str, int] = field(default_factory=dict)
    outcomes: list[TaskOutcome] = field(default_factory=list)

    @property
    def cost_usd(self) -> float:
        return sum(o.cost_usd for o in self.outcomes)

    @property
    def success_pct(self) -> float:
        return 100 * sum(o.passed for o in self.outcomes) / len(self.outcomes)


async def run_pass(
    tasks: list[WorkloadTask], mode: str, *, latency_s: float = 0.0, checker: Checker | None = None
) -> Pass:
    """Run ``tasks`` in order on one fresh workspace, with ``mode`` for every task."""
    checker = checker or Checker()
    model = SimulatedModel(latency_s=latency_s)
    result = Pass(mode=mode)
    origin: dict[str, WorkloadTask] = {}  # trace id -> the task that learned it
    with tempfile.TemporaryDirectory(prefix="llmos-bench-workload-") as folder:
        # What the user's own library learns and saves: the starter library would answer some
        # goals from the start, by its own (valid) files, which the reference check rejects.
        settings = load_settings(
            workspace=Path(folder) / "ws",
            cwd=work_folder(Path(folder) / "ws"),
            overrides={"library.starter": False},
            env={},
        )
        async with LLMOS(settings=settings, backend=model.backend(MODEL)) as llmos:
            started = time.perf_counter()
            for task in tasks:
                cwd = llmos.settings.cwd / f"task-{task.index:03d}"
                prepare(task, cwd)
                model.task = task
                done = await llmos.execute(task.goal, mode=mode, cwd=cwd)
                problems = tuple(checker.failures(task, cwd))
                source = origin.get(done.trace_id or "")
                if done.mode != "follower" and done.trace_id:
                    origin[done.trace_id] = task
                result.outcomes.append(
                    TaskOutcome(
                        task=task,
                        mode=done.mode,
                        passed=not problems,
                        cost_usd=done.cost_usd,
                        saved_usd=done.saved_usd,
                        problems=problems,
                        judged=done.outcome.status.value,
                        followed=source.goal if source and done.mode == "follower" else None,
                        false_follow=done.mode == "follower"
                        and (bool(problems) or source is None or source.job != task.job),
                    )
                )
            result.wall_s = time.perf_counter() - started
    result.turns = model.turns
    result.plans = model.plans
    return result


def summarise(learner: Pass, auto: Pass) -> dict[str, Any]:
    """The figures for results.json: cost, shares, false follows, success, time."""
    tasks = len(auto.outcomes)
    modes = Counter(o.mode for o in auto.outcomes)
    success_by_mode = {
        mode: round(100 * sum(o.passed for o in auto.outcomes if o.mode == mode) / count, 1)
        for mode, count in modes.items()
    }
    by_kind: dict[str, dict[str, int]] = {}
    for outcome in auto.outcomes:
        row = by_kind.setdefault(outcome.task.kind, {})
        row[outcome.mode] = row.get(outcome.mode, 0) + 1
    reduction = 100 * (1 - auto.cost_usd / learner.cost_usd) if learner.cost_usd else 0.0
    quality = 100 * auto.success_pct / learner.success_pct if learner.success_pct else 0.0
    return {
        "tasks": tasks,
        "families": len({o.task.family for o in auto.outcomes}),
        "model_prices": MODEL,
        "kinds": dict(Counter(o.task.kind for o in auto.outcomes)),
        "cost_learner_usd": round(learner.cost_usd, 4),
        "cost_auto_usd": round(auto.cost_usd, 4),
        "cost_reduction_pct": round(reduction, 1),
        "saved_reported_usd": round(sum(o.saved_usd for o in auto.outcomes), 4),
        "share_pct": {mode: round(100 * count / tasks, 1) for mode, count in modes.items()},
        "modes_by_kind": by_kind,
        "false_follows": sum(o.false_follow for o in auto.outcomes),
        # Near misses seen before: followed from their own earlier trace (a correct follow).
        "near_miss_follows_own_trace": sum(
            o.mode == "follower" and o.task.kind == "near-miss" and not o.false_follow
            for o in auto.outcomes
        ),
        "success_pct": round(auto.success_pct, 1),
        "judged": dict(Counter(o.judged for o in auto.outcomes)),
        "judged_success_pct": round(
            100 * sum(o.judged == "success" for o in auto.outcomes) / tasks, 1
        ),
        "judged_success_not_done": sum(
            o.judged == "success" and bool(o.problems) for o in auto.outcomes
        ),
        "done_not_judged_success": sum(
            o.judged != "success" and not o.problems for o in auto.outcomes
        ),
        "success_learner_pct": round(learner.success_pct, 1),
        "success_pct_by_mode": success_by_mode,
        "quality_pct_of_learner": round(quality, 1),
        "false_follow_cases": [
            f"#{o.task.index} {o.task.kind} {o.task.goal!r} replayed {o.followed!r}: "
            f"{'; '.join(o.problems) or 'a trace of another job'}"
            for o in auto.outcomes
            if o.false_follow
        ],
        "failed_checks": [
            f"#{o.task.index} {o.task.family}/{o.task.kind} ({o.mode}): {'; '.join(o.problems)}"
            for o in auto.outcomes
            if o.problems and not o.false_follow
        ],
        "model_turns_learner": learner.turns,
        "model_turns_auto": auto.turns,
        "learner_plans_auto": auto.plans,
        "wall_s_learner": round(learner.wall_s, 2),
        "wall_s_auto": round(auto.wall_s, 2),
        "simulated_turn_latency_s": None,
        "anchor": ANCHOR,
    }


def measure(scale: Scale) -> dict[str, Any]:
    """Both passes over the scale's workload; returns the ``workload`` section."""
    tasks = build_workload(scale.workload_tasks)
    checker = Checker()
    learner = asyncio.run(
        run_pass(tasks, "learner", latency_s=scale.turn_latency_s, checker=checker)
    )
    auto = asyncio.run(run_pass(tasks, "auto", latency_s=scale.turn_latency_s, checker=checker))
    figures = summarise(learner, auto)
    figures["simulated_turn_latency_s"] = scale.turn_latency_s
    return {"workload": figures}
