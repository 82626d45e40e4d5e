"""Run the benchmark suite, print the figures and write ``bench/results.json``.

    python -m bench.run                     # every part, full size (for BENCHMARKS.md)
    python -m bench.run --quick             # skips the 100k library, fewer repeats
    python -m bench.run workload lookup     # some parts only; other figures stay in the file
    python bench/run.py --scale tiny --output /tmp/results.json   # the smoke test's size

Parts: workload, replay, lookup, overheads, startup, backends, goals, orchestration.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import backends, goalset, lookup, orchestration, overheads, replay, startup, workload
from bench.report import (
    RESULTS,
    SCALES,
    Scale,
    command_line,
    machine,
    print_sections,
    save,
)

Part = Callable[[Scale, Path], dict[str, Any]]
PARTS: dict[str, Part] = {
    "workload": lambda scale, _folder: workload.measure(scale),
    "replay": lambda scale, _folder: replay.measure(scale),
    "lookup": lambda scale, _folder: lookup.measure(scale),
    "overheads": lambda scale, _folder: overheads.measure(scale),
    "startup": lambda scale, _folder: {"startup": startup.measure(max(3, 2 * scale.repeats))},
    "backends": backends.measure,
    "goals": lambda scale, _folder: goalset.measure(scale),
    "orchestration": lambda scale, _folder: orchestration.measure(scale),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "parts", nargs="*", metavar="PART", help=f"parts to run (default: all): {', '.join(PARTS)}"
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument(
        "--quick", action="store_const", const="quick", dest="scale", help="same as --scale quick"
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help=f"results file (default: {RESULTS})"
    )
    args = parser.parse_args(argv)
    unknown = [part for part in args.parts if part not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    scale = SCALES[args.scale]
    output = args.output.absolute()
    output.parent.mkdir(parents=True, exist_ok=True)
    for name in args.parts or list(PARTS):
        print(f"— {name} ({scale.name}) …", flush=True)
        started = time.perf_counter()
        figures = PARTS[name](scale, output.parent)
        run = {
            "command": command_line(),
            "scale": scale.name,
            "date": machine()["date"],
            "seconds": round(time.perf_counter() - started, 1),
        }
        print_sections(figures)
        save(figures, output, runs={name: run})
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
