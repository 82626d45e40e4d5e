"""Ten simple goals on the embedded model: how many it did, and how many llmos *reported* done.

Run with ``python -m bench.embedded_goals``. Each goal runs in a fresh workspace
through the real API and the embedded SmolLM2 model; whether the job was done is
checked here independently of llmos's judge (each goal has its own check of the
folder), and compared with the outcome llmos reported. The two counts must agree:
llmos never reports a success the work does not back. Writes
``bench/results_embedded.json``.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.folders import work_folder
from llmos.api import LLMOS
from llmos.config import load_settings

RESULTS = Path(__file__).with_name("results_embedded.json")


def holds(name: str, text: str) -> Callable[[Path], bool]:
    def check(out: Path) -> bool:
        path = out / name
        return path.is_file() and text.lower() in path.read_text(errors="replace").lower()

    return check


def exists(name: str) -> Callable[[Path], bool]:
    return lambda out: (out / name).exists()


GOALS: list[tuple[str, Callable[[Path], bool]]] = [
    ("Create a file hello.txt that says hello", holds("hello.txt", "hello")),
    ("Write 'good morning' to greeting.txt", holds("greeting.txt", "good morning")),
    ("Create notes.md containing 'buy milk'", holds("notes.md", "buy milk")),
    ("Create a folder named docs", lambda out: (out / "docs").is_dir()),
    ("Create an empty file named empty.txt", exists("empty.txt")),
    ("Write the number 42 to answer.txt", holds("answer.txt", "42")),
    ("Create todo.txt with the text call mom", holds("todo.txt", "call mom")),
    ("Create a Python file hi.py that prints 'hi'", holds("hi.py", "print")),
    ("Save 'done' in status.txt", holds("status.txt", "done")),
    ("Create README.md with the title 'My project'", holds("README.md", "my project")),
]


async def run_one(goal: str, check: Callable[[Path], bool]) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="llmos-embedded-") as scratch:
        workspace = Path(scratch) / "ws"
        settings = load_settings(
            workspace=workspace,
            cwd=work_folder(workspace),
            # What the embedded model does: no goal may be followed from the starter library.
            overrides={"provider": "local", "tools.sandbox": False, "library.starter": False},
        )
        started = time.perf_counter()
        async with LLMOS(settings=settings) as llmos:
            result = await llmos.execute(goal)
        done = check(settings.cwd)
        return {
            "goal": goal,
            "did_the_job": done,
            "reported": result.outcome.status.value,
            "failure": result.outcome.kind.value if result.outcome.kind else None,
            "message": result.outcome.message,
            "seconds": round(time.perf_counter() - started, 1),
        }


async def main() -> None:
    rows = [await run_one(goal, check) for goal, check in GOALS]
    did = sum(1 for row in rows if row["did_the_job"])
    reported = sum(1 for row in rows if row["reported"] == "success")
    false_success = sum(
        1 for row in rows if row["reported"] == "success" and not row["did_the_job"]
    )
    summary = {
        "goals": len(rows),
        "did_the_job": did,
        "reported_success": reported,
        "reported_success_not_done": false_success,
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    for row in rows:
        print(f"{row['reported']:>10}  done={row['did_the_job']!s:5}  {row['goal']}")
    print(
        f"did the job: {did}/{len(rows)} · reported success: {reported} · "
        f"reported but not done: {false_success}"
    )


if __name__ == "__main__":
    asyncio.run(main())
