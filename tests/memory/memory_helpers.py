"""Helpers for the trace memory tests: goal sets and sample traces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmos.memory import Postcondition, Step, Trace

DATA = Path(__file__).resolve().parent.parent / "data"


def load_goal_set(name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The learned lines and the probe lines of a goals JSONL file in tests/data."""
    lines = [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]
    learned = [line for line in lines if line["type"] == "learned"]
    probes = [line for line in lines if line["type"] == "probe"]
    return learned, probes


def learned_trace(line: dict[str, Any]) -> Trace:
    """A saved-trace candidate from a ``learned`` line (empty postconditions)."""
    return Trace(
        goal=line["goal"],
        backend="scripted",
        steps=tuple(Step(tool=s["tool"], input=s["input"]) for s in line["steps"]),
    )


def calculator_trace(**changes: Any) -> Trace:
    """A small two-step trace with real postconditions."""
    fields: dict[str, Any] = {
        "goal": "Create a Python calculator in calc.py",
        "backend": "scripted",
        "cost_usd": 0.031,
        "steps": (
            Step(
                tool="Write",
                input={"file_path": "calc.py", "content": "print(2 + 3)\n"},
                postcondition=Postcondition(exit_code=None, files_written={"calc.py": "ab" * 32}),
                output="Wrote calc.py",
            ),
            Step(
                tool="Bash",
                input={"command": "python3 calc.py"},
                postcondition=Postcondition(
                    exit_code=0, output_digest="cd" * 32, files_read=("calc.py",)
                ),
                output="5\n",
            ),
        ),
        "final_answer": "calc.py prints 5.",
    }
    fields.update(changes)
    return Trace(**fields)
