"""L2 episodic memory: every event of every task, one JSON line each, one file per session.

A :class:`SessionLog` is a bus subscriber. Each instance (one per llmos
process, in practice) appends to its own file
``memory/sessions/<UTC date-time>-<pid>-<short id>.jsonl``, so processes never
interleave lines. Each line goes to the kernel in one ``write`` (no user-space
buffer), so a killed process loses nothing it published and leaves at most a
torn last line; the end of a task is also synced to disk. Readers skip a torn
or foreign line with a note instead of failing.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from llmos.events import (
    Event,
    ModeChosen,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    UsageUpdated,
    event_from_json,
    event_to_json,
)
from llmos.owners import pid_alive

SUFFIX = ".jsonl"
_SESSION_NAME = re.compile(r"(\d{8}T\d{6}Z)-(\d+)-([0-9a-f]+)\.jsonl")
#: The events a task summary is built from; other lines are not even parsed.
_SUMMARY_KINDS = (TaskStarted, ModeChosen, UsageUpdated, TaskFinished, TaskFailed)

#: done: judged a success; unverified: finished, not checkable; failed; running; interrupted.
TaskStatus = Literal["done", "unverified", "failed", "running", "interrupted"]


@dataclass(frozen=True, slots=True)
class LogProblem:
    """A line a reader skipped: where it is and why."""

    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


ProblemCallback = Callable[[LogProblem], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSummary:
    """One task as the session log saw it (``llmos log`` with no id)."""

    task_id: str
    goal: str
    mode: str
    status: TaskStatus
    cost_usd: float
    started: float
    duration_s: float | None
    session: str
    trace_id: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "task_id": self.task_id,
            "goal": self.goal,
            "mode": self.mode,
            "status": self.status,
            "cost_usd": self.cost_usd,
            "started": datetime.fromtimestamp(self.started, UTC).isoformat(timespec="seconds"),
            "duration_s": self.duration_s,
            "session": self.session,
            "trace_id": self.trace_id,
            "error": self.error,
        }


def session_file_name(now: datetime | None = None, pid: int | None = None) -> str:
    """``<UTC date-time>-<pid>-<short id>.jsonl``: sorts by start time, never collides."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{moment}-{os.getpid() if pid is None else pid}-{secrets.token_hex(3)}{SUFFIX}"


class SessionLog:
    """Appends every event to this session's file; reads every session's files.

    Example:
        >>> log = SessionLog(workspace.sessions)
        >>> bus.subscribe(log)                      # writes as events happen
        >>> [s.goal for s in log.tasks()[:5]]      # the five most recent tasks
    """

    def __init__(self, sessions_dir: Path) -> None:
        self.root = sessions_dir
        self.path = sessions_dir / session_file_name()
        self._fd: int | None = None

    # ------------------------------------------------------------ writing

    def __call__(self, event: Event) -> None:
        """Append one event as one line (the file is created on the first event)."""
        data = (event_to_json(event) + "\n").encode("utf-8")
        if self._fd is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        if isinstance(event, TaskFinished | TaskFailed):
            os.fsync(self._fd)

    def close(self) -> None:
        """Close the file; a later event reopens it (same session, same file)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # ------------------------------------------------------------ reading

    def files(self) -> list[Path]:
        """Every session file, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob(f"*{SUFFIX}") if p.is_file())

    def iter_lines(
        self, task_id: str | None = None, *, on_problem: ProblemCallback | None = None
    ) -> Iterator[tuple[str, Event]]:
        """(raw JSON line, event) for every event, or one task's, oldest session first."""
        needle = None if task_id is None else f'"task_id":"{task_id}"'
        for path in self.files():
            yield from _read(path, needle, None, on_problem)

    def iter_events(
        self, task_id: str | None = None, *, on_problem: ProblemCallback | None = None
    ) -> Iterator[Event]:
        """Every logged event across sessions (or those of ``task_id``), in order."""
        for _, event in self.iter_lines(task_id, on_problem=on_problem):
            yield event

    def tasks(self, *, on_problem: ProblemCallback | None = None) -> list[TaskSummary]:
        """A summary of every logged task, most recent first."""
        summaries: list[TaskSummary] = []
        for path in self.files():
            live = _writer_alive(path)
            builders: dict[str, _Builder] = {}
            for _, event in _read(path, None, _SUMMARY_KINDS, on_problem):
                builder = builders.setdefault(event.task_id, _Builder(event.task_id, path.name))
                builder.add(event)
            summaries.extend(b.summary(live) for b in builders.values())
        summaries.sort(key=lambda s: s.started, reverse=True)
        return summaries


# ---------------------------------------------------------------- helpers


def _kind_marker(kind: type) -> str:
    return f'"kind":"{kind.__dataclass_fields__["kind"].default}"'  # type: ignore[attr-defined]


def _read(
    path: Path, needle: str | None, kinds: Iterable[type] | None, on_problem: ProblemCallback | None
) -> Iterator[tuple[str, Event]]:
    """The events of one file; cheap substring tests skip lines before parsing them."""
    markers = None if kinds is None else tuple(_kind_marker(kind) for kind in kinds)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                if on_problem is not None and raw.strip():
                    on_problem(
                        LogProblem(
                            path,
                            number,
                            "skipped a torn last line (the process writing it was probably killed)",
                        )
                    )
                return
            try:
                text = raw.decode("utf-8").rstrip("\n")
            except UnicodeDecodeError:
                if on_problem is not None:
                    on_problem(LogProblem(path, number, "skipped a line that is not UTF-8"))
                continue
            if not text.strip() or (needle is not None and needle not in text):
                continue
            if markers is not None and not any(marker in text for marker in markers):
                continue
            try:
                event = event_from_json(text)
            except ValidationError as exc:
                if on_problem is not None:
                    first = exc.errors()[0]
                    on_problem(
                        LogProblem(
                            path,
                            number,
                            f"skipped a line that is not an llmos event ({first['msg']})",
                        )
                    )
                continue
            yield text, event


def _writer_alive(path: Path) -> bool:
    """Whether the process that writes this session file still runs."""
    found = _SESSION_NAME.fullmatch(path.name)
    if found is None:
        return False
    pid = int(found.group(2))
    return pid == os.getpid() or pid_alive(pid)


class _Builder:
    """Accumulates one task's summary from its events."""

    def __init__(self, task_id: str, session: str) -> None:
        self.task_id = task_id
        self.session = session
        self.goal = ""
        self.mode = ""
        self.started: float | None = None
        self.cost = 0.0
        self.end: TaskFinished | TaskFailed | None = None

    def add(self, event: Event) -> None:
        match event:
            case TaskStarted(goal=goal, mode=mode, ts=ts):
                self.goal, self.mode, self.started = goal, mode, ts
            case ModeChosen(mode=mode):
                self.mode = mode
            case UsageUpdated(total_cost_usd=total):
                self.cost = max(self.cost, total)
            case TaskFinished() | TaskFailed():
                self.end = event
                self.mode = event.mode or self.mode
                if isinstance(event, TaskFailed) and event.goal and not self.goal:
                    self.goal = event.goal
                self.cost = event.cost_usd or self.cost
        if self.started is None:
            self.started = event.ts

    def summary(self, writer_alive: bool) -> TaskSummary:
        status: TaskStatus
        if isinstance(self.end, TaskFinished):
            status = "done" if self.end.success else "unverified"
        elif isinstance(self.end, TaskFailed):
            status = "failed"
        else:
            status = "running" if writer_alive else "interrupted"
        return TaskSummary(
            task_id=self.task_id,
            goal=self.goal,
            mode=self.mode,
            status=status,
            cost_usd=self.cost,
            started=self.started or 0.0,
            duration_s=self.end.duration_s if self.end else None,
            session=self.session,
            trace_id=self.end.trace_id if self.end else None,
            error=self.end.error if isinstance(self.end, TaskFailed) else None,
        )
