"""A second process for the concurrency test: saves traces and counts uses of a shared one.

Usage: python memory_worker.py MEMORY_DIR NAME COUNT SHARED_ID
"""

from __future__ import annotations

import sys
from pathlib import Path

from llmos.memory import Step, Trace, TraceStore


def main(memory: str, name: str, count: int, shared_id: str) -> None:
    store = TraceStore.for_memory(Path(memory))
    for number in range(count):
        store.save(
            Trace(
                goal=f"Write {number} to {name}-{number}.txt",
                steps=(
                    Step(
                        tool="Write",
                        input={"file_path": f"{name}-{number}.txt", "content": f"{number}\n"},
                    ),
                ),
            )
        )
        store.record_use(shared_id, success=True, saved_usd=0.25)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
