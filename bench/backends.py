"""Backends: the embedded model's load time and token rates, and claude-sdk start-up.

Runs the two stand-alone scripts (``bench_local_model.py``,
``bench_claude_startup.py``), each in a fresh process (the embedded model's
engine is cached per process: a load measured after another part loaded it
would be near zero), with their JSON written next to the results file, and
folds their figures into the ``backends`` section.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.report import Scale

ROOT = Path(__file__).resolve().parent.parent
#: Runs a script's ``main`` (sync or async) with its RESULTS path and arguments replaced.
_LAUNCH = """\
import asyncio, inspect, sys
from importlib import import_module
from pathlib import Path
script = import_module("bench." + sys.argv[1])
script.RESULTS = Path(sys.argv[2])
sys.argv = [script.__file__, *sys.argv[3:]]
outcome = script.main()
if inspect.iscoroutine(outcome):
    asyncio.run(outcome)
"""


def run_script(name: str, argv: list[str], results: Path) -> dict[str, Any]:
    """Run ``bench/<name>.py`` with ``argv`` in a new process, its JSON going to ``results``."""
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCH, name, str(results), *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"bench/{name}.py failed (exit {done.returncode}): {done.stderr.strip()[-1000:]}"
        )
    print(done.stdout, end="")
    return json.loads(results.read_text(encoding="utf-8"))


def measure(scale: Scale, folder: Path) -> dict[str, Any]:
    """The ``backends`` section; the scripts' own files land in ``folder``."""
    local = run_script(
        "bench_local_model", ["--repeats", str(scale.repeats)], folder / "results_local.json"
    )
    claude = run_script(
        "bench_claude_startup", ["--rounds", str(scale.repeats)], folder / "results_claude.json"
    )
    return {
        "backends": {
            "local": {
                key: local[key]
                for key in (
                    "model",
                    "model_file_mb",
                    "threads",
                    "load_s",
                    "prompt_tokens_per_s",
                    "generation_tokens_per_s",
                    "tool_call_turn_s",
                )
            },
            "claude_sdk": {
                "cli_version": claude["cli_version"],
                "cold_first_task_s": claude["cold_first_task_s"]["median"],
                "warm_second_task_s": claude["warm_second_task_s"]["median"],
                "saved_per_task_s": claude["saved_per_task_s"],
                "rounds": claude["rounds"],
            },
        }
    }
