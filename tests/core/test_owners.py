"""The one pid check: a live process is alive, an ended one (reaped or a zombie) is not."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmos.owners import current_owner, owner_alive, pid_alive


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_this_process_is_alive() -> None:
    assert pid_alive(os.getpid())
    assert owner_alive(current_owner())


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="zombies are told apart through /proc")
def test_an_ended_child_its_parent_has_not_reaped_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 60
        while _state(child.pid) != "Z":  # ended, not yet waited for: a zombie
            assert time.monotonic() < deadline, "the child never ended"
            time.sleep(0.02)
        assert not pid_alive(child.pid)
    finally:
        child.wait()
    assert not pid_alive(child.pid)
