"""Kernel overheads: hook pipeline per tool call, event bus, security policy, CLI start-up.

- **Hooks**: :func:`run_tool_call` on an instant tool shaped like Bash (it
  returns at once, so only the kernel's own work is timed), with the built-in
  hooks of a default configuration against an empty pipeline; the difference
  is the per-call overhead. The commands are the workload's real ones.
- **Bus**: events per second published to N synchronous subscribers.
- **Security**: ``judge_command`` decisions per second over both command
  corpora in ``tests/data``: cold (the parse cache cleared before each) and
  cached (the same lines again).
- **CLI**: subprocess start-up to the first byte of output, median of several
  runs, for ``llmos --version`` and for a ``llmos run`` that follows a trace.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bench.report import Scale, summary_ms
from bench.workload_data import build_workload
from llmos.config import load_settings
from llmos.events import Notice
from llmos.hooks.builtin import install_builtin_hooks
from llmos.hooks.pipeline import HookPipeline
from llmos.messages import ToolCall, Usage
from llmos.runtime.bus import EventBus
from llmos.runtime.task import TaskContext
from llmos.runtime.tool_runner import run_tool_call
from llmos.security import judge_command
from llmos.security.shell import clear_parse_cache
from llmos.tools.base import Tool, ToolContext, ToolRegistry, ToolResult

CORPORA = Path(__file__).resolve().parent.parent / "tests" / "data"
CORPUS_FILES = ("commands_dev.jsonl", "commands_attacks.jsonl")


class _CommandInput(BaseModel):
    command: str


class InstantBash(Tool):
    """Takes a Bash call and returns at once: what remains is the kernel's cost."""

    name = "Bash"
    description = "Accepts a shell command and does nothing (benchmark instrument)."
    Input = _CommandInput

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        return ToolResult(content="ok", exit_code=0)


async def _no_charge(model: str, usage: Usage) -> float:
    return 0.0


async def _per_call_us(
    pipeline: HookPipeline, bus: EventBus, workspace: Path, commands: Sequence[str], iterations: int
) -> float:
    registry = ToolRegistry()
    registry.register(InstantBash())
    cwd = workspace / "output"
    cwd.mkdir(parents=True, exist_ok=True)
    task = TaskContext(
        task_id="bench",
        goal="bench",
        bus=bus,
        hooks=pipeline,
        tools=registry,
        tool_ctx=ToolContext(cwd=cwd, workspace=workspace),
        price=_no_charge,
    )
    calls = [
        ToolCall(id=f"c{i}", name="Bash", input={"command": commands[i % len(commands)]})
        for i in range(iterations)
    ]
    for call in calls[: len(commands)]:  # warm-up: imports, caches
        await run_tool_call(task, call)
    started = time.perf_counter()
    for call in calls:
        await run_tool_call(task, call)
    return (time.perf_counter() - started) / iterations * 1e6


ROUNDS = 5


def hooks_overhead(iterations: int) -> dict[str, Any]:
    """Per tool call: built-in hooks against an empty pipeline, on the same instant tool.

    The overhead is a difference of two timings, so each is the fastest of
    :data:`ROUNDS` interleaved rounds; on a busy machine it can still come out
    near zero or below, which says the noise is larger than the hooks.
    """
    commands = sorted(
        {
            step["input"]["command"]
            for task in build_workload(220)
            for step in task.steps
            if step["tool"] == "Bash"
        }
    )
    with tempfile.TemporaryDirectory(prefix="llmos-bench-hooks-") as folder:
        workspace = Path(folder)
        settings = load_settings(workspace=workspace, env={})
        bus = EventBus()
        builtin = HookPipeline(bus)
        install_builtin_hooks(builtin, settings)
        empty, hooked = [], []
        for _ in range(ROUNDS):  # interleaved, so a busy moment hits both alike
            empty.append(
                asyncio.run(
                    _per_call_us(
                        HookPipeline(bus), bus, workspace, commands, iterations // ROUNDS or 1
                    )
                )
            )
            hooked.append(
                asyncio.run(
                    _per_call_us(builtin, bus, workspace, commands, iterations // ROUNDS or 1)
                )
            )
        empty_us, hooked_us = min(empty), min(hooked)  # the least disturbed round of each
    return {
        "calls": iterations,
        "distinct_commands": len(commands),
        "empty_pipeline_us_per_call": round(empty_us, 1),
        "builtin_hooks_us_per_call": round(hooked_us, 1),
        "overhead_us_per_call": round(hooked_us - empty_us, 1),
    }


def bus_throughput(subscribers: Sequence[int], events: int) -> dict[str, float]:
    """Events per second delivered to each number of subscribers."""

    async def one(count: int) -> float:
        bus = EventBus()
        received = [0]

        def take(_event: object) -> None:
            received[0] += 1

        for _ in range(count):
            bus.subscribe(take)
        event = Notice(task_id="bench", message="tick")
        started = time.perf_counter()
        for _ in range(events):
            await bus.publish(event)
        elapsed = time.perf_counter() - started
        if received[0] != events * count:
            raise RuntimeError(f"the bus delivered {received[0]} of {events * count} events")
        return events / elapsed

    return {f"events_per_s_{n}_subscribers": round(asyncio.run(one(n))) for n in subscribers}


def security_rate(rounds: int) -> dict[str, Any]:
    """Decisions per second over both corpora, with the parse cache cold and warm."""
    lines = [
        json.loads(line)["cmd"]
        for name in CORPUS_FILES
        for line in (CORPORA / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    with tempfile.TemporaryDirectory(prefix="llmos-bench-security-") as folder:
        workspace = Path(folder)
        cwd = workspace / "output"
        cwd.mkdir()
        home = Path(folder) / "home"

        def judge_all(cold: bool) -> float:
            started = time.perf_counter()
            for _ in range(rounds):
                for line in lines:
                    if cold:
                        clear_parse_cache()
                    judge_command(line, cwd=cwd, workspace=workspace, home=home)
            return len(lines) * rounds / (time.perf_counter() - started)

        cold = judge_all(cold=True)
        judge_all(cold=False)  # fill the cache
        cached = judge_all(cold=False)
    return {
        "commands": len(lines),
        "decisions_per_s_cold": round(cold),
        "decisions_per_s_cached": round(cached),
    }


def _llmos_command() -> list[str]:
    script = Path(sys.executable).with_name("llmos")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "llmos"]


def _first_output_s(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Seconds to the first byte on stdout, and to the process's end."""
    started = time.perf_counter()
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
        cwd=cwd,
    ) as process:
        assert process.stdout is not None
        first = process.stdout.read(1)
        first_s = time.perf_counter() - started
        process.stdout.read()
        if process.wait(timeout=120) != 0 or not first:
            raise RuntimeError(f"{' '.join(argv)} failed (exit {process.returncode})")
    return first_s, time.perf_counter() - started


def cli_startup(repeats: int) -> dict[str, Any]:
    """``llmos --version`` and a followed ``llmos run``, median of ``repeats`` runs."""
    llmos = _llmos_command()
    goal = "Create a file hello.txt that says hello"
    script = [
        {
            "tool_calls": [
                {"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}
            ]
        },
        {"text": "hello.txt says hello."},
    ]
    with tempfile.TemporaryDirectory(prefix="llmos-bench-cli-") as folder:
        workspace = Path(folder) / "ws"
        work = Path(folder) / "work"  # where the tasks work: never the caller's folder
        work.mkdir()
        script_file = Path(folder) / "script.json"
        script_file.write_text(json.dumps(script), encoding="utf-8")
        subprocess.run(
            [
                *llmos,
                "run",
                goal,
                "--workspace",
                str(workspace),
                "--provider",
                "scripted",
                "--script",
                str(script_file),
            ],
            check=True,
            capture_output=True,
            timeout=120,
            cwd=work,
        )
        version = [_first_output_s([*llmos, "--version"], work) for _ in range(repeats)]
        followed = []
        follow = [*llmos, "run", goal, "--workspace", str(workspace)]
        for _ in range(repeats):
            (work / "hello.txt").unlink(missing_ok=True)
            followed.append(_first_output_s(follow, work))
    return {
        "startup_ms": round(statistics.median(v[0] for v in version) * 1000, 1),
        "version_first_output": summary_ms([v[0] for v in version]),
        "followed_run_first_output": summary_ms([f[0] for f in followed]),
        "followed_run_total": summary_ms([f[1] for f in followed]),
        "runs": repeats,
    }


def measure(scale: Scale) -> dict[str, Any]:
    """The ``hooks``, ``bus``, ``security`` and ``cli`` sections."""
    return {
        "hooks": hooks_overhead(scale.iterations),
        "bus": bus_throughput(scale.subscribers, scale.iterations * 10),
        "security": security_rate(max(1, scale.repeats // 2)),
        "cli": cli_startup(max(2, scale.repeats)),
    }
