"""Shared by the benchmark parts: scales, the machine, results.json, the printed tables."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).with_name("results.json")


@dataclass(frozen=True, slots=True, kw_only=True)
class Scale:
    """How big each part runs: ``full`` for BENCHMARKS.md, ``quick``, ``tiny`` for the test."""

    name: str
    workload_tasks: int
    turn_latency_s: float
    lookup_sizes: tuple[int, ...]
    lookup_probes: int
    repeats: int
    iterations: int
    subscribers: tuple[int, ...]


SCALES = {
    "full": Scale(
        name="full",
        workload_tasks=220,
        turn_latency_s=0.02,
        lookup_sizes=(1_000, 10_000, 100_000),
        lookup_probes=500,
        repeats=7,
        iterations=2_000,
        subscribers=(1, 10, 100),
    ),
    "quick": Scale(
        name="quick",
        workload_tasks=220,
        turn_latency_s=0.0,
        lookup_sizes=(1_000, 10_000),
        lookup_probes=300,
        repeats=3,
        iterations=500,
        subscribers=(1, 10),
    ),
    "tiny": Scale(
        name="tiny",
        workload_tasks=12,
        turn_latency_s=0.0,
        lookup_sizes=(300,),
        lookup_probes=50,
        repeats=1,
        iterations=20,
        subscribers=(1,),
    ),
}


def machine() -> dict[str, Any]:
    """Where the figures came from: cores, CPU model, RAM, Python, OS."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        total_kb = int(meminfo.read_text().split("MemTotal:", 1)[1].split()[0])
        ram_gb = round(total_kb / 2**20, 1)
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "nproc": len(usable) if usable is not None else os.cpu_count(),
        "cpu": cpu,
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def percentile(samples: Sequence[float], share: float) -> float:
    """The ``share`` percentile (0-1) by rank, no interpolation (p99 of 100 is the 99th)."""
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


def summary_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """Median, min and max of ``samples_s`` (seconds), in milliseconds."""
    return {
        "median_ms": round(statistics.median(samples_s) * 1000, 1),
        "min_ms": round(min(samples_s) * 1000, 1),
        "max_ms": round(max(samples_s) * 1000, 1),
    }


def save(sections: Mapping[str, Any], path: Path, *, runs: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``sections`` into ``path`` (other parts' earlier figures stay) and write it.

    ``runs`` says, per part, the command, scale, date and seconds that produced it.
    """
    results: dict[str, Any] = {}
    if path.is_file():
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            results = {}
    results.update(sections)
    results["runs"] = {**results.get("runs", {}), **runs}
    results["machine"] = machine()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return results


def print_sections(sections: Mapping[str, Any], console: Console | None = None) -> None:
    """One table per section, nested keys flattened with dots."""
    console = console or Console()
    for name, body in sections.items():
        table = Table(title=name, title_justify="left", show_header=False)
        table.add_column("figure", style="cyan")
        table.add_column("value", justify="right")
        for key, value in _flat(body):
            table.add_row(key, _shown(value))
        console.print(table)


def _flat(body: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(body, Mapping):
        rows = []
        for key, value in body.items():
            rows.extend(_flat(value, f"{prefix}{key}."))
        return rows
    return [(prefix.rstrip("."), body)]


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def command_line() -> str:
    return " ".join(["python", "-m", "bench.run", *sys.argv[1:]])
