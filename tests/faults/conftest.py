"""The fault suite's counts: summed over the session, kept as JSON, printed by the root conftest."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_helpers import COUNTS, FAKE_MODEL, FaultCounts

from llmos.testing.fake_llm_server import FakeLLMServer

# One file per pytest-xdist worker; the root conftest sums them.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / f"faults-{_WORKER}.json"


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
