"""File-system helpers shared by the file tools: a bounded walk, name hints, snapshots.

The walk never follows a symlinked folder (it could lead out of the working
directory or into a loop) and skips the folders nobody means to search.
File tools do blocking I/O, so they run in a worker thread through
:class:`ThreadedTool` and never stall the event loop.
"""

from __future__ import annotations

import asyncio
import difflib
import os
from abc import abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmos.tools.base import Tool, ToolContext, ToolResult, relative_name, sha256_file

SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__"})


class ThreadedTool(Tool):
    """A tool whose work is blocking file I/O, run off the event loop."""

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        return await asyncio.to_thread(self.run_blocking, args, ctx)

    @abstractmethod
    def run_blocking(self, args: Any, ctx: ToolContext) -> ToolResult:
        """Do the work; called in a worker thread."""


@dataclass(frozen=True, slots=True)
class WalkEntry:
    """One entry met by :func:`walk`; ``relative`` is posix, relative to the walk's root."""

    relative: str
    entry: os.DirEntry[str]
    is_dir: bool
    is_symlink: bool

    @property
    def path(self) -> Path:
        return Path(self.entry.path)  # built on demand: most entries never need it

    def lstat(self) -> os.stat_result:
        return self.entry.stat(follow_symlinks=False)


def hidden_state(ctx: ToolContext) -> frozenset[str]:
    """llmos's state folder when it lies inside the working directory (a user's home
    holds the llmos home): listings, searches and snapshots pass over it, as if it
    were not there, so no step sees or records llmos's own files."""
    state, cwd = os.path.realpath(ctx.workspace), os.path.realpath(ctx.cwd)
    if state != cwd and state.startswith(cwd.rstrip("/") + "/"):
        return frozenset({state})
    return frozenset()


def walk(
    root: Path,
    *,
    skip_dirs: frozenset[str] = SKIPPED_DIRS,
    exclude: Callable[[str], bool] | None = None,
    hidden: frozenset[str] = frozenset(),
) -> Iterator[WalkEntry]:
    """Yield every entry below ``root`` in tree order (a folder, then its content).

    Entries are sorted by name; folders named in ``skip_dirs`` and symlinked
    folders are yielded but not entered; entries for which ``exclude``
    (given the relative path) is true, and the real paths in ``hidden``, are
    neither yielded nor entered. Unreadable folders are skipped silently: a
    search reports what it could read.
    """
    if hidden:
        exclude = _also_hiding(os.path.realpath(root), hidden, exclude)
    stack: list[Iterator[tuple[str, os.DirEntry[str]]]] = [_sorted_entries(str(root), "")]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        relative, entry = item
        if exclude is not None and exclude(relative):
            continue
        is_symlink = entry.is_symlink()
        is_dir = entry.is_dir(follow_symlinks=False)
        yield WalkEntry(relative, entry, is_dir, is_symlink)
        if is_dir and entry.name not in skip_dirs:
            stack.append(_sorted_entries(entry.path, relative + "/"))


def _also_hiding(
    real_root: str, hidden: frozenset[str], exclude: Callable[[str], bool] | None
) -> Callable[[str], bool]:
    def excluded(relative: str) -> bool:
        if os.path.join(real_root, relative) in hidden:
            return True
        return exclude is not None and exclude(relative)

    return excluded


def _sorted_entries(folder: str, prefix: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:
        return iter(())
    return ((prefix + entry.name, entry) for entry in entries)


def similar_names(path: Path, limit: int = 3) -> list[str]:
    """Names in ``path``'s folder that look like its name, for "did you mean" hints."""
    try:
        names = [entry.name for entry in os.scandir(path.parent)]
    except OSError:
        return []
    close = difflib.get_close_matches(path.name, names, n=limit, cutoff=0.5)
    lowered = path.name.lower()
    close += [n for n in names if n.lower() == lowered and n not in close]
    return close[:limit]


def missing_file_message(ctx: ToolContext, path: Path, given: str) -> str:
    """Say the file does not exist and suggest what the model may have meant."""
    message = f"File does not exist: {given!r}."
    if not path.parent.is_dir():
        return message + f" Its folder {relative_name(ctx, path.parent)!r} does not exist either."
    hints = similar_names(path)
    if hints:
        folder = relative_name(ctx, path.parent)
        shown = ", ".join(repr(hint if folder == "." else f"{folder}/{hint}") for hint in hints)
        return message + f" Did you mean {shown}?"
    return message + " Use LS or Glob to find the right name."


@dataclass(frozen=True, slots=True)
class TreeSnapshot:
    """(mtime_ns, size) of every regular file under a folder, to spot what a command changed."""

    stats: dict[str, tuple[int, int]]
    complete: bool


SNAPSHOT_SKIPPED_DIRS = frozenset({".git", "node_modules", "__pycache__"})


def snapshot_tree(
    root: Path, max_files: int = 10_000, *, hidden: frozenset[str] = frozenset()
) -> TreeSnapshot:
    """Record the regular files under ``root`` (symlinks are not followed)."""
    stats: dict[str, tuple[int, int]] = {}
    for entry in walk(root, skip_dirs=SNAPSHOT_SKIPPED_DIRS, hidden=hidden):
        if entry.is_dir or entry.is_symlink:
            continue
        if len(stats) >= max_files:
            return TreeSnapshot(stats, complete=False)
        try:
            info = entry.lstat()
        except OSError:
            continue
        stats[entry.relative] = (info.st_mtime_ns, info.st_size)
    return TreeSnapshot(stats, complete=True)


def changed_files(root: Path, before: TreeSnapshot, after: TreeSnapshot) -> dict[str, str]:
    """Digest every file that is new in ``after`` or whose stats changed."""
    written: dict[str, str] = {}
    for relative, stat in sorted(after.stats.items()):
        if before.stats.get(relative) == stat:
            continue
        try:
            written[relative] = sha256_file(root / relative)
        except OSError:
            continue  # deleted or made unreadable between the snapshot and now
    return written


def os_error_message(action: str, given: str, exc: OSError) -> str:
    """Turn an OSError into a sentence the model can act on."""
    reason = exc.strerror or type(exc).__name__
    return f"Cannot {action} {given!r}: {reason}."
