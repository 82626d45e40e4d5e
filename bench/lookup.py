"""Lookup at scale: match latency, index build time and memory at 1k, 10k, 100k traces.

The library and the probes come from :mod:`llmos.memory.synthetic`. Each size
runs in its own process (``python -m bench.lookup SIZE PROBES``) so the memory
figure is that size's alone: the peak resident set during the measurement
minus the resident set after imports (the index is SQLite: its pages are not
Python allocations, so tracemalloc would miss them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.report import Scale
from llmos.memory.synthetic import measure as measure_size


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc (VmRSS: now, VmHWM: the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(
        f"/proc/self/status has no {field} line; the lookup memory figure needs Linux"
    )


def one_size(size: int, probes: int) -> dict[str, Any]:
    """Measure one library size in this process."""
    before = _status_mb("VmRSS")
    result = measure_size(size, probes=probes)
    return {
        "build_s": round(result.build_s, 3),
        "p50_ms": round(result.p50_ms, 3),
        "p99_ms": round(result.p99_ms, 3),
        "probes": probes,
        "decisions": result.decisions,
        "peak_rss_mb": round(_status_mb("VmHWM"), 1),
        "rss_growth_mb": round(_status_mb("VmHWM") - before, 1),
    }


def measure(scale: Scale) -> dict[str, Any]:
    """The ``lookup`` section, keyed by figure then library size."""
    sizes: dict[str, dict[str, Any]] = {}
    for size in scale.lookup_sizes:
        done = subprocess.run(
            [sys.executable, "-m", "bench.lookup", str(size), str(scale.lookup_probes)],
            check=True,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        sizes[str(size)] = json.loads(done.stdout.strip().splitlines()[-1])
    figures = ("p50_ms", "p99_ms", "build_s", "peak_rss_mb", "rss_growth_mb")
    section: dict[str, Any] = {
        name: {size: row[name] for size, row in sizes.items()} for name in figures
    }
    section["decisions"] = {size: row["decisions"] for size, row in sizes.items()}
    section["probes"] = scale.lookup_probes
    return {"lookup": section}


if __name__ == "__main__":
    print(json.dumps(one_size(int(sys.argv[1]), int(sys.argv[2]))))
