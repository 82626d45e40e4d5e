"""Replay versus learning, end to end, on the embedded local model.

In-process through the Python API: one goal learned with the embedded model
(a fresh instance, so the model load is part of learning as a user meets it),
then the same goal run again, which the Follower replays; the ratio is the
speed-up. The same pair is then timed end to end as ``python -m llmos run``
subprocesses on a fresh workspace.

The tiny model may fail the task; the run is still measured, and llmos
reports it failed. A failed trace is never followed, so the follow is then
timed on the trace of a correct (scripted) run of the same goal.
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

from bench.folders import work_folder
from bench.report import Scale, summary_ms
from llmos.api import LLMOS
from llmos.backends.scripted import ScriptedBackend
from llmos.config import load_settings

GOAL = "Create a file hello.txt that says hello"


#: A correct run of GOAL, learned when the embedded model's own run failed (it usually
#: does): a failed trace is never followed, so the follow is timed on this one.
CORRECT_RUN = [
    {"tool_calls": [{"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}]},
    {"text": "hello.txt says hello."},
]


async def _learn_correctly(workspace: Path) -> None:
    settings = load_settings(workspace=workspace, cwd=work_folder(workspace), env={})
    async with LLMOS(settings=settings, backend=ScriptedBackend(CORRECT_RUN)) as llmos:
        done = await llmos.execute(GOAL, mode="learner")
    if not done.success:
        raise SystemExit(f"the scripted correct run was not judged a success: {done.error}")


async def _in_process(workspace: Path, repeats: int) -> dict[str, Any]:
    settings = load_settings(
        workspace=workspace, cwd=work_folder(workspace), overrides={"provider": "local"}, env={}
    )
    async with LLMOS(settings=settings) as llmos:
        started = time.perf_counter()
        learned = await llmos.execute(GOAL)
        learn_s = time.perf_counter() - started
        made = llmos.settings.cwd / "hello.txt"
        made_file = made.is_file() and "hello" in made.read_text(errors="replace").lower()
        if not learned.success:
            await _learn_correctly(workspace)
        follows, modes = [], set()
        for _ in range(repeats):
            started = time.perf_counter()
            again = await llmos.execute(GOAL)
            modes.add(again.mode if learned.success else f"{again.mode} (scripted correct run)")
            follows.append(time.perf_counter() - started)
        model = llmos.services.backends.get().model
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
        "follow_cost_usd": 0.0 if all(m.startswith("follower") for m in modes) else None,
        "followed_by": sorted(modes),
        "speedup": round(learn_s / follow_s, 1),
    }


def _cli(workspace: Path) -> tuple[float, int]:
    """One ``llmos run`` of GOAL on the embedded model: seconds and exit code."""
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmos",
            "run",
            GOAL,
            "--workspace",
            str(workspace),
            "--provider",
            "local",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=work_folder(workspace),
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"llmos run exited {done.returncode}: {done.stderr}")
    return time.perf_counter() - started, done.returncode


def measure(scale: Scale) -> dict[str, Any]:
    """The ``replay`` section: in-process learn/follow times and the end-to-end CLI pair."""
    with tempfile.TemporaryDirectory(prefix="llmos-bench-replay-") as folder:
        figures = asyncio.run(_in_process(Path(folder) / "api", max(3, scale.repeats)))
        cli_workspace = Path(folder) / "cli"
        learn_cli_s, learn_exit = _cli(cli_workspace)
        if learn_exit != 0:  # the embedded model failed, honestly: follow a correct run
            asyncio.run(_learn_correctly(cli_workspace))
        follows = [_cli(cli_workspace)[0] for _ in range(max(1, scale.repeats // 2))]
    figures["cli_learn_ms"] = round(learn_cli_s * 1000, 1)
    figures["cli_learn_exit"] = learn_exit
    figures["cli_follow"] = summary_ms(follows)
    return {"replay": figures}
