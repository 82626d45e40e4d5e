"""Start-up against bare Python: ``python -c pass``, ``llmos --version``, a followed ``llmos run``.

The three are timed in one run, interleaved round by round so a busy moment
hits them alike, and each is the median of ``runs`` rounds (wall time to the
process's end). The trace is learned once with the scripted provider; each
followed run then replays it, end to end, in a folder where ``hello.txt`` was removed. The issue's
targets are ratios to ``python -c pass`` on the same machine: ``--version`` at
most 10x, a followed run at most 25x::

    python bench/startup.py                          # this checkout, 15 rounds
    python bench/startup.py --runs 25
    PYTHONPATH=/other/src python bench/startup.py    # another tree, same venv

``llmos`` is the console script next to the interpreter (``python -m llmos``
if there is none), so ``PYTHONPATH`` chooses the tree it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL = "Create a file hello.txt that says hello"
SCRIPT = [
    {"tool_calls": [{"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}]},
    {"text": "hello.txt says hello."},
]
TARGETS = {"version": 10.0, "followed_run": 25.0}


def llmos_command() -> list[str]:
    """The ``llmos`` console script of this interpreter, or ``python -m llmos``."""
    script = Path(sys.executable).with_name("llmos")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "llmos"]


def _elapsed_s(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, cwd=cwd, timeout=120, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed (exit {done.returncode}): {done.stderr[-500:]!r}"
        )
    return elapsed


def measure(runs: int) -> dict[str, Any]:
    """Median seconds of each command over ``runs`` interleaved rounds, and the ratios."""
    llmos = llmos_command()
    env = {**os.environ, "NO_COLOR": "1"}
    with tempfile.TemporaryDirectory(prefix="llmos-bench-startup-") as folder:
        workspace = Path(folder) / "ws"
        work = Path(folder) / "work"  # where the tasks work: never the caller's folder
        work.mkdir()
        script = Path(folder) / "script.json"
        script.write_text(json.dumps(SCRIPT), encoding="utf-8")
        learn = [*llmos, "run", GOAL, "-w", str(workspace), "--provider", "scripted"]
        _elapsed_s([*learn, "--script", str(script)], env, work)
        follow = [*llmos, "run", GOAL, "-w", str(workspace)]
        commands = {
            "python": [sys.executable, "-c", "pass"],
            "version": [*llmos, "--version"],
            "followed_run": follow,
        }
        for argv in commands.values():  # warm the file cache, compile the bytecode
            _elapsed_s(argv, env, work)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, argv in commands.items():
                if name == "followed_run":
                    (work / "hello.txt").unlink(missing_ok=True)  # each follow writes it anew
                times[name].append(_elapsed_s(argv, env, work))
    median = {name: statistics.median(values) for name, values in times.items()}
    base = median["python"]
    return {
        "runs": runs,
        "median_ms": {name: round(value * 1000, 1) for name, value in median.items()},
        "ratio": {name: round(median[name] / base, 1) for name in TARGETS},
        "target": TARGETS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/startup.py", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="rounds (default 15)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(args.runs)
    if args.json:
        print(json.dumps(figures))
        return 0
    ms, ratio = figures["median_ms"], figures["ratio"]
    print(f"median of {args.runs} rounds, wall time to the end of each process")
    print(f"  python -c pass      {ms['python']:7.1f} ms")
    for name, label in (("version", "llmos --version"), ("followed_run", "followed llmos run")):
        verdict = "ok" if ratio[name] <= TARGETS[name] else "over"
        print(
            f"  {label:<19} {ms[name]:7.1f} ms  {ratio[name]:5.1f}x"
            f"  (target <= {TARGETS[name]:g}x: {verdict})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
