"""The fault suite's counts: summed over the session, printed, and kept as JSON."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_helpers import COUNTS, FaultCounts

ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "faults.json"


@pytest.fixture(scope="session")
def fault_counts() -> Iterator[FaultCounts]:
    """Tests add what they injected; at the end of the session the totals are written."""
    yield COUNTS
    COUNTS.write(ARTIFACT)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if COUNTS.counts:
        terminalreporter.write_line(f"{COUNTS.summary()} (written to {ARTIFACT})")
