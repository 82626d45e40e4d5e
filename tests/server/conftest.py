"""A real ``llmos serve`` process per test, on a free port of 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_helpers import ServerProcess, launch


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start servers for one test; each is stopped at the end."""
    started: list[ServerProcess] = []

    def start(**kwargs: Any) -> ServerProcess:
        server = launch(tmp_path / f"server{len(started)}", **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
