"""Synthetic trace libraries, for measuring lookup speed at 1k, 10k and 100k traces.

:func:`populate` writes index rows directly (what a long-lived library looks
like to the matcher) plus real files for a sample of traces, the ones the
probes aim at. :func:`measure` times index builds and matches; run it with
``python -m llmos.memory.synthetic 1000 10000 100000``.

Rows without a file are pruned by the matcher when a probe touches them, as
in a real library whose files were deleted by hand; the timed pass runs
after one untimed pass over the same probes, on the steady-state index.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from llmos.memory.index import entry_for
from llmos.memory.matching import Matcher
from llmos.memory.slots import find_slots
from llmos.memory.store import TraceStore
from llmos.memory.trace import Step, Trace
from llmos.memory.trace_format import render_trace

VERBS = (
    "Create",
    "Write",
    "Generate",
    "Build",
    "Delete",
    "Copy",
    "Move",
    "Convert",
    "Count",
    "Sort",
    "List",
    "Compress",
    "Rename",
    "Download",
    "Resize",
    "Summarize",
    "Validate",
    "Format",
    "Merge",
    "Split",
    "Encrypt",
    "Parse",
    "Plot",
    "Test",
    "Profile",
    "Deploy",
)
OBJECTS = (
    "Python script",
    "CSV file",
    "JSON config",
    "Markdown report",
    "HTML page",
    "bash script",
    "log summary",
    "test suite",
    "Dockerfile",
    "Makefile",
    "README",
    "changelog",
    "todo list",
    "word counter",
    "prime sieve",
    "calculator",
    "stack class",
    "queue class",
    "linked list",
    "binary search",
    "web scraper",
    "CLI tool",
    "unit converter",
    "password generator",
    "invoice template",
    "chart",
    "backup job",
    "cron entry",
    "SQL schema",
    "YAML manifest",
    "thumbnail",
    "archive",
    "sitemap",
    "RSS feed",
    "config loader",
    "rate limiter",
    "cache layer",
    "retry helper",
)
QUALIFIERS = (
    "that prints the first {n} primes",
    "with {n} sample rows",
    "listing {n} items",
    "sorted by name",
    "in reverse order",
    "with a header row",
    "for {n} users",
    "that retries {n} times",
    "with a {n} second timeout",
    "grouped by region",
    "with unit tests",
    "without comments",
    "using only the standard library",
    "and print the result",
    "and save a copy in backup/",
    "limited to {n} lines",
)
STEMS = tuple(
    f"{word}{suffix}"
    for word in (
        "data",
        "report",
        "main",
        "util",
        "app",
        "notes",
        "sales",
        "users",
        "orders",
        "stock",
        "log",
        "calc",
        "index",
        "config",
        "todo",
        "items",
        "grades",
        "table",
        "story",
        "poem",
    )
    for suffix in ("", "_v2", "_old", "_new", "2", "_test", "_tmp", "_x", "_a", "_b")
)
EXTENSIONS = ("py", "csv", "json", "md", "html", "sh", "txt", "yaml", "sql", "toml")


def synthetic_trace(number: int, rng: random.Random) -> Trace:
    """One plausible learned trace: a goal with literals, and steps that use them."""
    path = f"{rng.choice(STEMS)}{number}.{rng.choice(EXTENSIONS)}"
    count = rng.randint(2, 500)
    qualifier = rng.choice(QUALIFIERS).format(n=count)
    goal = f"{rng.choice(VERBS)} a {rng.choice(OBJECTS)} {path} {qualifier}"
    steps = (
        Step(tool="Write", input={"file_path": path, "content": f"# {goal}\nLIMIT = {count}\n"}),
        Step(tool="Bash", input={"command": f"python3 {path} {count}"}),
    )
    return Trace(
        id=f"{number:012x}",
        goal=goal,
        backend="synthetic",
        cost_usd=0.01,
        steps=steps,
        slots=find_slots(goal, steps),
        signature=goal.lower(),
    )


def populate(store: TraceStore, traces: list[Trace], *, with_files: int = 200) -> list[Trace]:
    """Index ``traces``; the first ``with_files`` also get their file.

    Returns the traces that have files (the ones probes should aim at).
    """
    backed = traces[:with_files]
    store.root.mkdir(parents=True, exist_ok=True)  # a store makes its folder on first write
    for trace in backed:
        sealed = store.signer.seal(trace)  # as llmos saves them: followable
        (store.root / f"{trace.id}.md").write_text(render_trace(sealed), encoding="utf-8")
    with_file = {trace.id for trace in backed}
    entries = []
    for trace in traces:
        path = store.root / f"{trace.id}.md"
        info = path.stat() if trace.id in with_file else None
        entries.append(
            entry_for(
                trace,
                path.name,
                mtime_ns=info.st_mtime_ns if info else 0,
                size=info.st_size if info else 0,
            )
        )
    store.index.replace_all(entries, str(store.root.stat().st_mtime_ns))
    return backed


def probe_goals(backed: list[Trace], rng: random.Random, count: int) -> list[str]:
    """A mix of exact, re-cased, new-value, near-miss and unrelated goals."""
    goals = []
    for number in range(count):
        trace = rng.choice(backed)
        kind = number % 5
        if kind == 0:
            goals.append(trace.goal)
        elif kind == 1:
            goals.append(trace.goal.lower() + ".")
        elif kind == 2:
            path = trace.slots[0].value if trace.slots else "x.py"
            stem, dot, ext = path.rpartition(".")
            goals.append(trace.goal.replace(path, f"{stem}_copy{dot}{ext}"))
        elif kind == 3:
            goals.append(trace.goal + " and also email the result to the team")
        else:
            goals.append(f"Explain how {rng.choice(OBJECTS).lower()}s work to a beginner")
    return goals


@dataclass(frozen=True, slots=True)
class Measurement:
    """Timings for one library size (build: keys and rows of every trace, in one transaction)."""

    size: int
    build_s: float
    p50_ms: float
    p99_ms: float
    decisions: dict[str, int]


def measure(size: int, *, probes: int = 500, seed: int = 7) -> Measurement:
    """Build a synthetic library of ``size`` traces and time ``probes`` matches."""
    with tempfile.TemporaryDirectory() as folder:
        store = TraceStore.for_memory(Path(folder) / "memory")
        rng = random.Random(seed)
        traces = [synthetic_trace(number, rng) for number in range(size)]
        started = time.perf_counter()
        backed = populate(store, traces)
        build_s = time.perf_counter() - started
        matcher = Matcher(store)
        goals = probe_goals(backed, random.Random(seed + 1), probes)
        for goal in goals:
            # Warm-up pass: fills the page cache, and prunes the file-less rows that the
            # probes touch (as a real library prunes rows whose file was deleted).
            matcher.match(goal)
        timings = []
        decisions: dict[str, int] = {}
        for goal in goals:
            started = time.perf_counter()
            result = matcher.match(goal)
            timings.append((time.perf_counter() - started) * 1000)
            decisions[result.decision] = decisions.get(result.decision, 0) + 1
        store.index.close()
    timings.sort()
    return Measurement(
        size=size,
        build_s=build_s,
        p50_ms=statistics.median(timings),
        p99_ms=timings[int(len(timings) * 0.99) - 1],
        decisions=decisions,
    )


def measure_reindex(size: int, *, seed: int = 7) -> float:
    """Seconds :meth:`TraceStore.reindex` takes to rebuild the index from ``size`` files."""
    with tempfile.TemporaryDirectory() as folder:
        store = TraceStore.for_memory(Path(folder) / "memory")
        rng = random.Random(seed)
        populate(store, [synthetic_trace(number, rng) for number in range(size)], with_files=size)
        started = time.perf_counter()
        store.reindex()
        elapsed = time.perf_counter() - started
        store.index.close()
    return elapsed


def main(argv: list[str]) -> int:
    """Print build time and match latency per size; ``--reindex`` also times rebuilds from files."""
    rebuild = "--reindex" in argv
    sizes = [int(arg) for arg in argv if arg.isdigit()] or [1_000, 10_000, 100_000]
    print("traces  build_s  reindex_s  p50_ms  p99_ms  decisions")
    for size in sizes:
        result = measure(size)
        reindex_s = f"{measure_reindex(size):9.2f}" if rebuild else "        –"
        print(
            f"{result.size:>6}  {result.build_s:7.2f}  {reindex_s}  {result.p50_ms:6.2f}  "
            f"{result.p99_ms:6.2f}  {result.decisions}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
