"""Claude Code CLI start-up: a task on a cold backend vs a task on the warm client.

Runs the real bundled Claude Code CLI against the scripted fake Anthropic server
on 127.0.0.1 (one text turn per task, so the model's time is near zero and what
remains is the CLI's own cost). A *cold* task creates a backend and pays for
starting the CLI; a *warm* task reuses the backend's running CLI (the price is
a ``/clear`` round trip). Prints a table and writes ``bench/results_claude.json``.

    python bench/bench_claude_startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from llmos.backends.base import AgentRun
from llmos.backends.claude_sdk import ClaudeSDKBackend
from llmos.events import Event
from llmos.hooks.pipeline import HookContext, HookPipeline
from llmos.testing.fake_llm_server import FakeLLMServer, Turn

RESULTS = Path(__file__).with_name("results_claude.json")


async def _ignore(_event: Event) -> None:
    """Events are not what this benchmark measures."""


def _run(cwd: Path, goal: str) -> AgentRun:
    ctx = HookContext(task_id="t-bench", goal=goal, cwd=cwd, workspace=cwd)
    return AgentRun(
        goal=goal,
        system="llmos benchmark",
        cwd=str(cwd),
        tools=("Read", "Write", "Edit", "Bash"),
        max_turns=3,
        hooks=HookPipeline(),
        hook_ctx=ctx,
        publish=_ignore,
    )


async def _timed(backend: ClaudeSDKBackend, cwd: Path, goal: str) -> float:
    started = time.perf_counter()
    outcome = await backend.run_agent(_run(cwd, goal))
    elapsed = time.perf_counter() - started
    if not outcome.success:
        raise RuntimeError(f"benchmark task failed: {outcome.error}")
    return elapsed


async def measure(rounds: int) -> dict[str, Any]:
    cold: list[float] = []
    warm: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer(fallback=Turn(text="ok")) as server:
        home, cwd = Path(tmp) / "home", Path(tmp) / "work"
        home.mkdir()
        cwd.mkdir()
        options = {
            "model": "claude-sonnet-4-5",
            "setting_sources": [],
            "env": {
                "HOME": str(home),
                "ANTHROPIC_BASE_URL": server.url,
                "ANTHROPIC_API_KEY": "sk-ant-fake-key-for-bench",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            },
        }
        for index in range(rounds):
            backend = ClaudeSDKBackend(options=options)
            try:
                cold.append(await _timed(backend, cwd, f"first task {index}"))
                warm.append(await _timed(backend, cwd, f"second task {index}"))
            finally:
                await backend.aclose()
    return {
        "benchmark": "claude-sdk CLI start-up: first task (cold) vs second task (warm client)",
        "rounds": rounds,
        "cli_version": _cli_version(),
        "machine": f"{platform.machine()} {platform.system()} Python {platform.python_version()}",
        "cold_first_task_s": _summary(cold),
        "warm_second_task_s": _summary(warm),
        "saved_per_task_s": round(statistics.median(cold) - statistics.median(warm), 3),
    }


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(samples), 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
    }


def _cli_version() -> str:
    """The SDK version and the Claude Code CLI it bundles (the SDK has no public name for it)."""
    import claude_agent_sdk
    from claude_agent_sdk._cli_version import __cli_version__

    return f"claude-agent-sdk {claude_agent_sdk.__version__}, Claude Code {__cli_version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    results = asyncio.run(measure(parser.parse_args().rounds))
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{results['cli_version']}, {results['rounds']} rounds")
    for label, key in (
        ("first task (cold)", "cold_first_task_s"),
        ("second task (warm)", "warm_second_task_s"),
    ):
        stats = results[key]
        print(
            f"  {label:<20} median {stats['median']:.3f} s  "
            f"(min {stats['min']:.3f}, max {stats['max']:.3f})"
        )
    print(f"  warm client saves   {results['saved_per_task_s']:.3f} s per task")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
