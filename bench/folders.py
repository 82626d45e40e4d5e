"""Where a benchmark's tasks work: a folder beside its state folder, never the checkout."""

from __future__ import annotations

from pathlib import Path


def work_folder(state: Path) -> Path:
    """A folder of its own beside ``state``, made if needed: tasks write there as in a
    user's folder."""
    folder = Path(state).parent / f"{Path(state).name}-work"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
