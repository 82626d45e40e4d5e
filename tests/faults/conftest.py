"""The fault suite's counts: summed over the session, printed, and kept as JSON."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_helpers import COUNTS, FAKE_MODEL, FaultCounts

from llmos.testing.fake_llm_server import FakeLLMServer

ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "faults.json"


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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if COUNTS.counts:
        terminalreporter.write_line(f"{COUNTS.summary()} (written to {ARTIFACT})")
