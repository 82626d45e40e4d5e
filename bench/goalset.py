"""The ``goals_dev`` starter set: learned goals become traces, every probe is matched.

Reports the share of ``should-follow`` probes (paraphrases) that follow, and
counts the ``must-follow`` probes that do not and the ``must-not-follow``
probes that do (both must be 0; the memory tests assert them).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from bench.report import Scale
from llmos.memory import Matcher, Step, Trace, TraceStore

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SETS = ("goals_dev.jsonl", "goals_extra.jsonl")


def match_set(name: str) -> dict[str, Any]:
    """Decisions for every probe of one goal set, against a library of its learned lines."""
    lines = [
        json.loads(line)
        for line in (DATA / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    with tempfile.TemporaryDirectory(prefix="llmos-bench-goals-") as folder:
        store = TraceStore.for_memory(Path(folder) / "memory")
        names = {}
        for line in (item for item in lines if item["type"] == "learned"):
            trace = Trace(
                goal=line["goal"],
                backend="scripted",
                steps=tuple(Step(tool=s["tool"], input=s["input"]) for s in line["steps"]),
            )
            names[store.save(trace).id] = line["id"]
        matcher = Matcher(store)
        counts: dict[str, dict[str, int]] = {}
        for probe in (item for item in lines if item["type"] == "probe"):
            found = matcher.match(probe["goal"])
            right_trace = found.trace is not None and names.get(found.trace.id) == probe["trace"]
            followed = found.decision == "follow" and (right_trace or probe["trace"] is None)
            row = counts.setdefault(probe["expect"], {"probes": 0, "followed": 0})
            row["probes"] += 1
            row["followed"] += followed
        store.index.close()
    should = counts.get("should-follow", {"probes": 0, "followed": 0})
    return {
        "should_follow_share_pct": round(100 * should["followed"] / should["probes"], 1)
        if should["probes"]
        else None,
        "should_follow": f"{should['followed']}/{should['probes']}",
        "must_follow_missed": counts["must-follow"]["probes"] - counts["must-follow"]["followed"],
        "must_not_follow_followed": counts["must-not-follow"]["followed"],
    }


def measure(scale: Scale) -> dict[str, Any]:
    """The ``goals`` section, one row per goal set."""
    return {"goals": {name.removesuffix(".jsonl"): match_set(name) for name in SETS}}
