"""The fault suite's counts: summed over the session, printed, and kept as JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_helpers import COUNTS, FAKE_MODEL, FaultCounts

from llmos.testing.fake_llm_server import FakeLLMServer

ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "faults.json"
_STARTED = pytest.StashKey[float]()


@pytest.fixture(scope="session")
def fault_counts() -> Iterator[FaultCounts]:
    """Tests add what they injected; at the end of the session the totals are written."""
    yield COUNTS
    COUNTS.write(ARTIFACT)


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    """The fake Anthropic/OpenAI server on 127.0.0.1; a stall in it is released at the end."""
    with FakeLLMServer(models=(FAKE_MODEL,)) as fake:
        yield fake
        fake.release()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One worker runs the whole fault suite (under pytest-xdist), so one process sums it."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.xdist_group("faults"))


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED] = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The totals: from this process, or (under xdist) from the file its worker wrote."""
    if COUNTS.counts:
        terminalreporter.write_line(f"{COUNTS.summary()} (written to {ARTIFACT})")
        return
    started = terminalreporter.config.stash.get(_STARTED, time.time())
    if ARTIFACT.is_file() and ARTIFACT.stat().st_mtime >= started:
        counts = FaultCounts()
        counts.counts.update(json.loads(ARTIFACT.read_text()))
        terminalreporter.write_line(f"{counts.summary()} (written to {ARTIFACT})")
