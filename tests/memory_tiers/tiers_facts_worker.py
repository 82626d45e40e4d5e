"""A process adding facts, for the concurrency test.

Usage: python tiers_facts_worker.py MEMORY_DIR NAME COUNT
"""

from __future__ import annotations

import sys
from pathlib import Path

from llmos.memory.facts import FactStore


def main(memory: str, name: str, count: int) -> None:
    store = FactStore.for_memory(Path(memory))
    for number in range(count):
        store.add(f"{name} fact number {number} about widgets", tags=(name,))
        if number % 5 == 0:
            store.search("widgets")  # readers and writers interleave


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
