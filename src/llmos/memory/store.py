"""The trace library on disk: one Markdown file per trace, an SQLite index beside them.

Files, index, lock, broken files and id prefixes are
:class:`~llmos.memory.markdown_store.MarkdownStore`'s (shared with the facts);
here is what is particular to traces: ids that name files, sealing, use
counts, export and import. The index is refreshed from the files whenever the
folder changed behind its back (a cheap check: the folder's modification
stamp; a trace edited in place is caught when it is read, see
:meth:`TraceStore.refresh_entry`), and can be rebuilt with :meth:`TraceStore.reindex`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from llmos.errors import ConfigError, TraceFormatError, TraceNotFound
from llmos.memory.index import IndexEntry, TraceIndex, entry_for
from llmos.memory.integrity import TraceSigner, Trust, digest
from llmos.memory.markdown_store import SUFFIX, MarkdownStore, ReindexReport
from llmos.memory.normalize import signature
from llmos.memory.slots import find_slots
from llmos.memory.trace import Trace, status_of, utc_now
from llmos.memory.trace_format import parse_trace, read_trace, render_trace
from llmos.outcome import Outcome
from llmos.workspace import Layout

MAX_IMPORT_BYTES = 64 * 1024 * 1024
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")

ProblemCallback = Callable[[TraceFormatError], None]


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: ids added (untrusted) and files skipped with the reason."""

    imported: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


class TraceStore(MarkdownStore[Trace, IndexEntry]):
    """The trace files under ``root`` and their index.

    Example:
        >>> store = TraceStore.for_memory(workspace.memory)
        >>> saved = store.save(Trace(goal="Create calc.py", steps=steps))
        >>> store.record_use(saved.id, success=True, saved_usd=saved.cost_usd)
    """

    def __init__(
        self, root: Path, index_path: Path | None = None, *, signer: TraceSigner | None = None
    ) -> None:
        super().__init__(root, TraceIndex(index_path or root.parent / "index.sqlite"))
        self.index: TraceIndex
        # By default the key of the scope whose memory this is (``<scope>/keys``): for the
        # workspace's store that is the installation's key. A TraceLibrary hands every
        # store (a project's too) the workspace's signer, so one key signs everything.
        self.signer = signer or TraceSigner(Layout(root.parent.parent).trace_key)

    @classmethod
    def for_memory(cls, memory: Path, signer: TraceSigner | None = None) -> TraceStore:
        """The store of a workspace's ``memory/`` folder (``traces/`` and ``index.sqlite``)."""
        return cls(memory / "traces", memory / "index.sqlite", signer=signer)

    noun = "trace"
    #: Which library the store is: the user's (or a project's) own, or the shipped starter.
    scope: ClassVar[str] = "own"
    list_command = "llmos traces list"
    not_found = TraceNotFound
    format_error = TraceFormatError

    def path_for(self, trace_id: str) -> Path:
        if not _ID.fullmatch(trace_id):
            raise TraceFormatError(f"trace id {trace_id!r} is not 1-64 letters, digits, '_' or '-'")
        return self.root / f"{trace_id}{SUFFIX}"

    # ------------------------------------------------------------ writing

    def save(self, trace: Trace) -> Trace:
        """Write a trace llmos made, sealed with the installation's key; returns it as saved.

        A trace without a signature is new: its signature and slots are derived
        from its goal and steps here. Saving vouches for the trace, so pass only
        what llmos itself produced, never a trace read back from a file (an
        edited file would come out trusted): that is :meth:`trust`, the user's call.
        """
        return self._save(self.signer.seal(_derived(trace)))

    def _save(self, trace: Trace) -> Trace:
        text = render_trace(trace)
        with self._lock:
            self._commit(trace, text)
        return trace

    def _commit(self, trace: Trace, text: str | None = None) -> None:
        """Write and index one trace; call with the lock held."""
        self._write(trace, render_trace(trace) if text is None else text)

    def delete(self, trace_id: str) -> str:
        """Remove a trace (id or unique prefix); returns the full id."""
        full_id = self.resolve(trace_id)
        with self._lock:
            self._unlink(full_id)
        return full_id

    def record_use(self, trace_id: str, *, success: bool, saved_usd: float = 0.0) -> Trace:
        """Count one replay of a trace: a success adds ``saved_usd`` to what it saved.

        Read, update and write happen under the store's lock, so counts from
        concurrent processes add up.
        """
        return self._update(
            trace_id,
            lambda trace: replace(
                trace,
                use_count=trace.use_count + 1,
                replay_successes=trace.replay_successes + (1 if success else 0),
                replay_failures=trace.replay_failures + (0 if success else 1),
                saved_usd=trace.saved_usd + (saved_usd if success else 0.0),
                last_used=utc_now(),
            ),
        )

    def set_status(self, trace_id: str, status: str) -> Trace:
        """Change a trace's status; a trusted trace stays trusted (it is sealed again)."""
        return self._update(trace_id, lambda trace: replace(trace, status=status))  # type: ignore[arg-type]

    def trust(self, trace_id: str, *, as_seen: Trace | None = None) -> Trace:
        """Vouch for a trace (the user did, or a sandboxed verify held): seal it with this key.

        An imported trace (status ``untrusted``) becomes a ``success``, as it was
        where it came from. Call it only after the user saw the steps, and pass
        what they saw (or what verify replayed) as ``as_seen``: if the file no
        longer holds that, nothing is sealed.

        Raises:
            TraceFormatError: the file changed since ``as_seen`` was read.
        """
        with self._lock:
            path = self.path_for(self.resolve(trace_id))
            trace = read_trace(path)
            if as_seen is not None and digest(trace) != digest(as_seen):
                raise TraceFormatError(
                    "changed since its steps were shown or verified, so it was not trusted; "
                    "look at it again",
                    path=path,
                )
            if trace.status == "untrusted":
                trace = replace(trace, status="success")
            trace = self.signer.seal(trace)
            self._commit(trace)
        return trace

    def set_outcome(self, trace_id: str, outcome: Outcome, *, only_if: str | None = None) -> Trace:
        """Record a new judged outcome (reject, promote, a replay that could not be healed).

        ``only_if``: change it only when the trace has this status now (read under
        the lock, so a concurrent reject is never overwritten by a demotion).
        """

        def judged(trace: Trace) -> Trace:
            if only_if is not None and trace.status != only_if:
                return trace
            return replace(
                trace, status=status_of(outcome), failure=outcome.kind, verdict=outcome.message
            )

        return self._update(trace_id, judged)

    def trust_of(self, trace: Trace) -> Trust:
        """Whether ``trace`` is as llmos sealed it here (only then is it followed or shown)."""
        return self.signer.check(trace)

    def trust_of_entry(self, entry: IndexEntry) -> Trust | None:
        """The trust of the trace behind an index row (read from its file); None if unreadable."""
        try:
            return self.trust_of(self._read_checked(self.root / entry.file))
        except TraceFormatError:
            return None

    def _update(self, trace_id: str, change: Callable[[Trace], Trace]) -> Trace:
        """Apply one change of llmos's own under the lock.

        A trace that was trusted is sealed again (llmos vouches for its own
        change); an untrusted one keeps the seal it had, so an edited file is
        never laundered into a trusted one by being counted or re-classified.
        """
        with self._lock:
            before = read_trace(self.path_for(self.resolve(trace_id)))
            trace = change(before)
            if self.signer.check(before).trusted:
                trace = self.signer.seal(trace)
            self._commit(trace)
        return trace

    # ------------------------------------------------------------ reading

    def resolve(self, id_or_prefix: str) -> str:
        """The full id for an id or a unique prefix of one (a broken file's name too).

        Raises:
            TraceNotFound: no trace has it, or several do (the message lists them).
        """
        if _ID.fullmatch(id_or_prefix) and self.path_for(id_or_prefix).is_file():
            return id_or_prefix
        return super().resolve(id_or_prefix)

    def about(self, row: IndexEntry) -> str:
        return _short(row.goal)

    def load(self, id_or_prefix: str) -> Trace:
        """Read one trace by id or unique id prefix."""
        return read_trace(self.path_for(self.resolve(id_or_prefix)))

    def iter(self, on_error: ProblemCallback | None = None) -> Iterator[Trace]:
        """Every readable trace; a broken file goes to ``on_error`` and is skipped."""
        for path in self.files():
            try:
                yield self._read_checked(path)
            except TraceFormatError as exc:
                if on_error is not None:
                    on_error(exc)

    def read(self, path: Path) -> Trace:
        """A trace file, checked to be named after the trace it holds."""
        return self._read_checked(path)

    def row_for(self, record: Trace, path: Path, info: os.stat_result) -> IndexEntry:
        return entry_for(record, path.name, mtime_ns=info.st_mtime_ns, size=info.st_size)

    def _read_checked(self, path: Path) -> Trace:
        trace = read_trace(path)
        expected = f"{trace.id}{SUFFIX}"
        if path.name == expected:
            return trace
        if (self.root / expected).exists():  # a copy: renaming it would overwrite the original
            raise TraceFormatError(
                f"holds trace id {trace.id!r}, which {expected} already holds: it is a copy; "
                f"remove it with `llmos traces rm {path.name.removesuffix(SUFFIX)}`",
                path=path,
            )
        raise TraceFormatError(
            f"holds trace id {trace.id!r} but is named {path.name!r}; rename it to {expected}",
            path=path,
        )

    def entries(self) -> list[IndexEntry]:
        """Index rows of every trace (fresh), oldest first."""
        self.ensure_fresh()
        return list(self.index.all())

    # ------------------------------------------------------------ index upkeep

    def ensure_fresh(self, on_error: ProblemCallback | None = None) -> None:
        """Bring the index up to date if the folder changed since it was last synced.

        ``on_error`` hears about every trace file that cannot be read, each time:
        broken files are remembered in the index, so every command can say so.
        """
        super().ensure_fresh()
        if on_error is not None:
            for problem in self.problems():
                on_error(problem)

    def problems(self) -> list[TraceFormatError]:
        """The trace files that cannot be read, with what is wrong with each."""
        return [TraceFormatError(b.reason, path=self.root / b.file) for b in self._broken_now()]

    def reindex(self) -> ReindexReport:
        """Rebuild the index from the files; broken files are reported and left out."""
        return self._rebuild()

    def refresh_entry(self, entry: IndexEntry) -> Trace | None:
        """The trace behind an index row, re-indexed if its file changed; None if it is gone."""
        path = self.root / entry.file
        try:
            info = path.stat()
        except FileNotFoundError:
            with self._lock:
                if not path.exists():
                    self.index.remove(entry.id)
            return None
        try:
            trace = self._read_checked(path)
        except TraceFormatError:
            with self._lock:
                self.index.remove(entry.id)
            return None
        if (info.st_mtime_ns, info.st_size) != (entry.mtime_ns, entry.size):
            self.index.upsert(
                [entry_for(trace, path.name, mtime_ns=info.st_mtime_ns, size=info.st_size)]
            )
        return trace

    # ------------------------------------------------------------ sharing

    def export(self, destination: Path, on_error: ProblemCallback | None = None) -> int:
        """Copy every readable trace into a ``.tar.gz`` or a folder; returns the count."""
        paths = self._readable(on_error)
        if destination.name.endswith((".tar.gz", ".tgz")):
            import tarfile  # export and import only: not on every command's path

            destination.parent.mkdir(parents=True, exist_ok=True)
            with tarfile.open(destination, "w:gz") as archive:
                for path in paths:
                    archive.add(path, arcname=path.name, recursive=False)
        else:
            destination.mkdir(parents=True, exist_ok=True)
            for path in paths:
                (destination / path.name).write_bytes(path.read_bytes())
        return len(paths)

    def _readable(self, on_error: ProblemCallback | None) -> list[Path]:
        readable = []
        for path in self.files():
            try:
                self._read_checked(path)
            except TraceFormatError as exc:
                if on_error is not None:
                    on_error(exc)
                continue
            readable.append(path)
        return readable

    def import_(self, source: Path) -> ImportReport:
        """Add the traces of a ``.tar.gz`` or a folder, unsealed: untrusted until trusted/verified.

        Failed and unverified traces stay so; an id already in the library is skipped.
        """
        report = ImportReport()
        for name, data in _import_items(source):
            try:
                trace = parse_trace(data.decode("utf-8"), Path(name))
                self.path_for(trace.id)
            except (UnicodeDecodeError, TraceFormatError) as exc:
                report.skipped.append((name, str(exc)))
                continue
            if self.path_for(trace.id).exists():
                report.skipped.append((name, f"trace {trace.id} is already in the library"))
                continue
            status = trace.status if trace.status in ("failed", "unverified") else "untrusted"
            # Unsealed: whoever sealed it elsewhere, nobody here has vouched for it yet.
            self._save(
                _derived(
                    replace(
                        trace,
                        status=status,
                        use_count=0,
                        replay_successes=0,
                        replay_failures=0,
                        saved_usd=0.0,
                        last_used=None,
                        integrity=None,
                    )
                )
            )
            report.imported.append(trace.id)
        return report


def _derived(trace: Trace) -> Trace:
    """A new trace gets its signature and slots from its goal and steps."""
    if trace.signature:
        return trace
    return replace(
        trace, signature=signature(trace.goal), slots=find_slots(trace.goal, trace.steps)
    )


def _import_items(source: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each trace file in a folder or a tar archive, never extracting."""
    if source.is_dir():
        for path in sorted(source.glob(f"*{SUFFIX}")):
            if path.is_file() and path.stat().st_size <= MAX_IMPORT_BYTES:
                yield path.name, path.read_bytes()
        return
    import tarfile

    if not source.is_file() or not tarfile.is_tarfile(source):
        raise ConfigError(
            f"cannot import {source}: it is not a folder or a tar archive "
            "(give what `llmos traces export` wrote)",
            key="path",
        )
    with tarfile.open(source, "r:*") as archive:
        for member in archive:
            if not (
                member.isfile() and member.name.endswith(SUFFIX) and member.size <= MAX_IMPORT_BYTES
            ):
                continue
            handle = archive.extractfile(member)
            if handle is not None:
                yield member.name, handle.read()


def _short(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
