"""Many threads opening a fresh index at once all see the whole schema."""

from __future__ import annotations

import threading
from pathlib import Path

from llmos.memory._fact_index import FactIndex
from llmos.memory.index import TraceIndex


def open_at_once(folder: Path, threads: int = 12) -> list[BaseException]:
    traces = TraceIndex(folder / "index.sqlite")
    facts = FactIndex(folder / "facts.sqlite")
    errors: list[BaseException] = []

    def open_both() -> None:
        try:
            traces.connection().execute("SELECT count(*) FROM broken").fetchone()
            traces.connection().execute("SELECT count(*) FROM traces").fetchone()
            facts.connection().execute("SELECT count(*) FROM facts").fetchone()
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)

    workers = [threading.Thread(target=open_both) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


def test_concurrent_first_opens_never_see_half_a_schema(tmp_path: Path) -> None:
    for round_ in range(10):
        assert open_at_once(tmp_path / str(round_)) == []
