"""Replay versus learning, end to end, on the embedded local model.

In-process through the Python API: one goal learned with the embedded model
(a fresh instance, so the model load is part of learning as a user meets it),
then the same goal run again, which the Follower replays; the ratio is the
speed-up. The same pair is then timed end to end as ``python -m llmos run``
subprocesses on a fresh workspace.

The tiny model may fail the task; the run is still measured. When its trace
is not followable (a failed run is never followed), the replay is timed with
``verify``, which replays the trace's steps without the model.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import Scale, summary_ms
from llmos.api import LLMOS
from llmos.config import load_settings

GOAL = "Create a file hello.txt that says hello"


async def _in_process(workspace: Path, repeats: int) -> dict[str, Any]:
    settings = load_settings(workspace=workspace, overrides={"provider": "local"}, env={})
    async with LLMOS(settings=settings) as llmos:
        started = time.perf_counter()
        learned = await llmos.execute(GOAL)
        learn_s = time.perf_counter() - started
        follows, modes = [], set()
        for _ in range(repeats):
            started = time.perf_counter()
            again = await llmos.execute(GOAL)
            if again.mode != "follower" and learned.trace_id:
                # The learned run is not followable (it failed): replay its steps directly.
                started = time.perf_counter()
                await llmos.verify(learned.trace_id)
                modes.add("verify")
            else:
                modes.add(again.mode)
            follows.append(time.perf_counter() - started)
        model = llmos.dispatcher.backend().model
        made = llmos.workspace.output / "hello.txt"
        made_file = made.is_file() and "hello" in made.read_text(errors="replace").lower()
    follow_s = statistics.median(follows)
    return {
        "goal": GOAL,
        "model": model,
        "learn_s": round(learn_s, 3),
        "learn_success": learned.success,
        "learn_made_hello_txt": made_file,
        "learn_cost_usd": learned.cost_usd,
        "learn_tokens": learned.usage.input_tokens + learned.usage.output_tokens,
        "follow_ms": round(follow_s * 1000, 2),
        "follow_cost_usd": 0.0 if "follower" in modes else None,
        "followed_by": sorted(modes),
        "speedup": round(learn_s / follow_s, 1),
    }


def _cli(workspace: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "llmos", "run", GOAL, "--workspace", str(workspace),
         "--provider", "local"],
        check=True, capture_output=True, text=True, timeout=600,
    )
    return time.perf_counter() - started


def measure(scale: Scale) -> dict[str, Any]:
    """The ``replay`` section: in-process learn/follow times and the end-to-end CLI pair."""
    with tempfile.TemporaryDirectory(prefix="llmos-bench-replay-") as folder:
        figures = asyncio.run(_in_process(Path(folder) / "api", max(3, scale.repeats)))
        cli_workspace = Path(folder) / "cli"
        learn_cli_s = _cli(cli_workspace)
        follows = [_cli(cli_workspace) for _ in range(max(1, scale.repeats // 2))]
    figures["cli_learn_ms"] = round(learn_cli_s * 1000, 1)
    figures["cli_follow"] = summary_ms(follows)
    return {"replay": figures}
