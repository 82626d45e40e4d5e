"""Markdown files as the truth, an SQLite index as their cache: the store traces and facts share.

One folder holds one ``ID.md`` file per record, each written atomically
(:func:`llmos.files.write_atomic`); temp files of writers killed mid-write are
swept when the store opens. Writes and index upkeep take one inter-process
file lock, so two processes saving at once lose nothing. The index is brought
up to date whenever the folder changed behind its back; a file that cannot be
read is remembered as broken and reported by every command. A kind of record
(a trace, a fact) says how to read a file and index a record; the rest is here,
and so are the layered stores a task looks in (its project's first).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from filelock import FileLock

from llmos.errors import LLMOSError
from llmos.files import sweep_dead_temp_files, write_atomic
from llmos.memory.record_index import BrokenFile, RecordIndex, Row

SUFFIX = ".md"
LOCK_TIMEOUT_S = 60.0
#: How many candidates an ambiguous id prefix lists.
LISTED = 10


class Record(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=Record)
R = TypeVar("R", bound=Row)


@dataclass(frozen=True, slots=True)
class ReindexReport:
    """How many records a rebuild indexed, and the files it had to skip."""

    indexed: int
    problems: list[LLMOSError]


class MarkdownStore(ABC, Generic[T, R]):
    """The record files under ``root`` and their index; a subclass names one kind of record."""

    #: What a record is called in messages ("trace", "fact").
    noun: ClassVar[str]
    #: The command that lists the ids, named when an id is not found.
    list_command: ClassVar[str]
    not_found: ClassVar[type[LLMOSError]]
    #: What :meth:`read` raises for a file it cannot read.
    format_error: ClassVar[type[LLMOSError]]
    #: True: compare every file's (mtime, size) with the index before each read (a small
    #: folder whose files people edit in place). False: only the folder's stamp (a large
    #: folder; an in-place edit is caught when the record is read).
    watch_edits: ClassVar[bool] = False
    #: A broken file answers to its name's stem in :meth:`resolve`, so it can be removed.
    resolve_broken: ClassVar[bool] = True

    def __init__(self, root: Path, index: RecordIndex[R]) -> None:
        self.root = root  # made by the first write: opening a store to read creates nothing
        #: Temp files of writers killed mid-write, removed on opening.
        self.swept = sweep_dead_temp_files(self.root) if self.root.is_dir() else []
        self.index = index
        self._lock = FileLock(str(index.path.with_suffix(".lock")), timeout=LOCK_TIMEOUT_S)

    # ------------------------------------------------------------ the kind of record

    @abstractmethod
    def read(self, path: Path) -> T:
        """Parse one file; anything wrong with it raises :attr:`format_error`."""

    @abstractmethod
    def row_for(self, record: T, path: Path, info: os.stat_result) -> R:
        """The index row of ``record``, read from ``path`` as ``info`` says."""

    def about(self, row: R) -> str | None:
        """A few words that tell an id apart in the ambiguous-prefix message."""
        return None

    def path_for(self, record_id: str) -> Path:
        return self.root / f"{record_id}{SUFFIX}"

    # ------------------------------------------------------------ writing (lock held)

    def _write(self, record: T, text: str) -> None:
        """Write and index one record; call with the lock held.

        The index stamp moves forward only if the index was current before this
        write, so a change made behind its back is still noticed later.
        """
        path = self.path_for(record.id)
        was_fresh = self.index.stamp() == self._folder_stamp()
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
        row = self.row_for(record, path, path.stat())
        self.index.apply([row], stamp=self._folder_stamp() if was_fresh else None)

    def _unlink(self, record_id: str) -> None:
        """Remove one record's file and row; call with the lock held."""
        path = self.path_for(record_id)
        was_fresh = self.index.stamp() == self._folder_stamp()
        path.unlink(missing_ok=True)
        self.index.apply(gone=[path.name], stamp=self._folder_stamp() if was_fresh else None)

    # ------------------------------------------------------------ reading

    def resolve(self, id_or_prefix: str) -> str:
        """The full id for an id or a unique prefix of one.

        Raises:
            not_found: no record has it, or several do (the message lists them).
        """
        self.ensure_fresh()
        found = self.index.with_prefix(id_or_prefix, limit=LISTED + 1) if id_or_prefix else []
        candidates = [(row.id, self.about(row)) for row in found]
        if id_or_prefix and self.resolve_broken:
            candidates += [
                (stem, "a broken file")
                for stem in (b.file.removesuffix(SUFFIX) for b in self.index.broken())
                if stem.startswith(id_or_prefix) and self.path_for(stem).exists()
            ]
        exact = [full for full, _ in candidates if full == id_or_prefix]
        if exact or len(candidates) == 1:
            return (exact or [candidates[0][0]])[0]
        if not candidates:
            raise self.not_found(
                f"no {self.noun} with id or id prefix {id_or_prefix!r} in {self.root}; "
                f"`{self.list_command}` shows the ids"
            )
        listed = ", ".join(
            full if about is None else f"{full} ({about})" for full, about in candidates[:LISTED]
        )
        raise self.not_found(
            f"the prefix {id_or_prefix!r} matches several {self.noun}s: {listed}"
            f"{' …' if len(candidates) > LISTED else ''}; give more characters of the id"
        )

    def files(self) -> list[Path]:
        """The record files (temporary files of writes in progress start with a dot)."""
        return sorted(self.root / name for name in self._scan())

    @abstractmethod
    def problems(self) -> Sequence[LLMOSError]:
        """The files that cannot be read, as :attr:`format_error` (from :meth:`_broken_now`)."""

    def _broken_now(self) -> list[BrokenFile]:
        """The broken files the index remembers that are still there."""
        return [b for b in self.index.broken() if (self.root / b.file).exists()]

    # ------------------------------------------------------------ index upkeep

    def ensure_fresh(self) -> None:
        """Bring the index up to date if the files changed since it was last synced."""
        if not self.root.is_dir() and not self.index.file_states():
            return  # nothing was ever stored here: nothing to lock, sync or create
        if self._stale():
            if self.index.in_memory:
                self._sync()  # an index in memory is this process's own: nothing to lock
                return
            with self._lock:
                self._sync()

    def _stale(self) -> bool:
        if self.watch_edits:
            return self._scan() != self.index.file_states()
        return self.index.stamp() != self._folder_stamp()

    def _folder_stamp(self) -> str:
        try:
            return str(self.root.stat().st_mtime_ns)
        except FileNotFoundError:
            return "absent"

    def _scan(self) -> dict[str, tuple[int, int]]:
        """Record file name → (mtime_ns, size)."""
        states: dict[str, tuple[int, int]] = {}
        try:
            with os.scandir(self.root) as entries:
                for entry in entries:
                    if entry.name.endswith(SUFFIX) and not entry.name.startswith("."):
                        info = entry.stat()
                        states[entry.name] = (info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            pass
        return states

    def _sync(self) -> None:
        """Index new and changed files, remember broken ones, drop rows of vanished files."""
        stamp = self._folder_stamp()
        known = self.index.file_states()
        files = self._scan()
        changed: list[R] = []
        broken: list[BrokenFile] = []
        for name, state in sorted(files.items()):
            if known.get(name) == state:
                continue
            try:
                changed.append(self._indexed(self.root / name))
            except FileNotFoundError:
                continue  # removed since the scan; dropped on the next sync
            except self.format_error as exc:
                broken.append(_broken(self.root / name, state, exc))
        gone = [name for name in known if name not in files and not (self.root / name).exists()]
        changed.sort(key=lambda row: (row.created, row.id))  # row order follows age
        self.index.apply(changed, gone=gone, broken=broken, stamp=stamp)

    def _indexed(self, path: Path) -> R:
        info = path.stat()
        return self.row_for(self.read(path), path, info)

    def _rebuild(self) -> ReindexReport:
        """Rebuild the index from the files; broken files are reported and left out."""
        problems: list[LLMOSError] = []
        rows: list[R] = []
        broken: list[BrokenFile] = []
        with self._lock:
            stamp = self._folder_stamp()
            for name, state in sorted(self._scan().items()):
                try:
                    rows.append(self._indexed(self.root / name))
                except FileNotFoundError:
                    continue
                except self.format_error as exc:
                    problems.append(exc)
                    broken.append(_broken(self.root / name, state, exc))
            rows.sort(key=lambda row: (row.created, row.id))
            self.index.replace_all(rows, stamp, broken)
        return ReindexReport(indexed=len(rows), problems=problems)


S = TypeVar("S", bound="MarkdownStore[Any, Any]")


class LayeredStores(Generic[S]):
    """Stores searched in order, a project's before the workspace's.

    The first one receives new records.
    """

    noun: ClassVar[str]

    def __init__(self, stores: Sequence[S]) -> None:
        if not stores:
            raise ValueError(f"a {self.noun} library needs at least one store")
        self.stores = tuple(stores)

    @property
    def home(self) -> S:
        """Where new records are saved."""
        return self.stores[0]

    def store_of(self, record_id: str) -> S:
        """The first store holding ``record_id`` (full id or unique prefix)."""
        for store in self.stores:
            try:
                store.resolve(record_id)
            except store.not_found:
                continue
            return store
        first = self.stores[0]
        raise first.not_found(
            f"no {first.noun} {record_id!r} in {', '.join(str(s.root) for s in self.stores)}; "
            f"`{first.list_command}` shows the ids"
        )

    def problems(self) -> list[LLMOSError]:
        """Files that cannot be read, in every store (they are skipped)."""
        return [problem for store in self.stores for problem in store.problems()]


def _broken(path: Path, state: tuple[int, int], exc: Exception) -> BrokenFile:
    return BrokenFile(path.name, *state, str(exc).removeprefix(f"{path}: "))
