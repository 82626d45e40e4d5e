"""Recurring tasks on disk: cron entries in ``schedule.json`` in the workspace.

The file is small and read whole; every change is a read-modify-write under
a file lock, written to a temporary file and renamed over the old one, so
``llmos schedule add`` in one process and ``llmos daemon`` in another never
lose each other's changes or see half a file. Times are timezone-aware and
cron expressions are read in the machine's local time, as crontab does.

Example:
    store = ScheduleStore.for_workspace(workspace)
    entry = store.add("0 9 * * 1-5", "Summarise yesterday's logs", project="ops")
    for due in store.due(local_now()): ...
"""

from __future__ import annotations

import builtins
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from croniter import CroniterBadDateError, CroniterError, croniter
from filelock import FileLock

from llmos.errors import ConfigError
from llmos.events import REQUESTED_MODES, RequestedMode
from llmos.files import write_atomic
from llmos.workspace import Workspace

FILE_NAME = "schedule.json"
FORMAT_VERSION = 1
CRON_HELP = (
    'use five fields: minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5" '
    'for 9:00 on weekdays or "*/15 * * * *" for every 15 minutes'
)


def local_now() -> datetime:
    """Now, aware of the local time zone (what cron expressions are read in)."""
    return datetime.now().astimezone()


def check_cron(expression: str) -> str:
    """The expression with its spaces normalised; a clear :class:`ConfigError` if invalid."""
    fields = expression.split()
    if len(fields) != 5:
        raise ConfigError(
            f"cron expression {expression!r} has {len(fields)} field(s); {CRON_HELP}", key="cron"
        )
    normalised = " ".join(fields)
    try:
        croniter(normalised, local_now()).get_next(datetime)
    except CroniterBadDateError as exc:
        raise ConfigError(
            f"cron expression {expression!r} never names a real date (such as 31 February); "
            f"{CRON_HELP}",
            key="cron",
        ) from exc
    except (CroniterError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"cron expression {expression!r} is not valid ({exc}); {CRON_HELP}", key="cron"
        ) from exc
    return normalised


def next_run(expression: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``expression`` names."""
    return croniter(expression, after).get_next(datetime)


@dataclass(frozen=True, slots=True, kw_only=True)
class CronEntry:
    """One recurring task: when it runs, what it runs, and when it last and next runs."""

    id: str
    cron: str
    goal: str
    mode: RequestedMode | None
    project: str | None
    created: datetime
    next_run: datetime
    last_run: datetime | None = None
    last_task_id: str | None = None
    #: The folder it works in: where it was added (None: the daemon's, for entries
    #: kept before tasks worked in the user's folder).
    cwd: Path | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created", "next_run", "last_run"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        data["cwd"] = None if self.cwd is None else str(self.cwd)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CronEntry:
        times = {
            key: datetime.fromisoformat(data[key]) if data.get(key) else None
            for key in ("created", "next_run", "last_run")
        }
        mode = data.get("mode")
        if mode is not None and mode not in REQUESTED_MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(REQUESTED_MODES)}")
        cwd = Path(data["cwd"]) if data.get("cwd") else None
        return cls(**{**data, **times, "cwd": cwd})


class ScheduleStore:
    """The recurring tasks of one workspace."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = local_now) -> None:
        self.path = path
        self.clock = clock
        self._lock = FileLock(str(path) + ".lock")

    @classmethod
    def for_workspace(
        cls, workspace: Workspace, *, clock: Callable[[], datetime] = local_now
    ) -> ScheduleStore:
        return cls(workspace.root / FILE_NAME, clock=clock)

    def list(self) -> list[CronEntry]:
        """Every entry, soonest next run first."""
        if not self.path.exists():
            return []  # nothing scheduled yet: reading creates no lock file
        with self._lock:
            entries = self._read()
        return sorted(entries, key=lambda e: e.next_run)

    def add(
        self,
        cron: str,
        goal: str,
        *,
        mode: RequestedMode | None = None,
        project: str | None = None,
        cwd: Path | None = None,
    ) -> CronEntry:
        if not goal.strip():
            raise ConfigError(
                'the goal is empty; say what to do, e.g. "Summarise the logs"', key="goal"
            )
        cron = check_cron(cron)
        now = self.clock()
        entry = CronEntry(
            id="s-" + secrets.token_hex(3),
            cron=cron,
            goal=goal,
            mode=mode,
            project=project,
            created=now,
            next_run=next_run(cron, now),
            cwd=cwd,
        )
        with self._lock:
            self._write([*self._read(), entry])
        return entry

    def remove(self, id_or_prefix: str) -> CronEntry:
        with self._lock:
            entries = self._read()
            found = self._find(entries, id_or_prefix)
            self._write([e for e in entries if e.id != found.id])
        return found

    def due(self, now: datetime) -> builtins.list[CronEntry]:
        """Entries whose next run is at or before ``now``."""
        return [e for e in self.list() if e.next_run <= now]

    def mark_run(self, entry_id: str, at: datetime, task_id: str | None) -> CronEntry | None:
        """Record a run at ``at`` and move the next run past it (missed runs are not repeated).

        Returns None when the entry was removed meanwhile.
        """
        with self._lock:
            entries = self._read()
            for index, entry in enumerate(entries):
                if entry.id == entry_id:
                    entries[index] = replace(
                        entry, last_run=at, last_task_id=task_id, next_run=next_run(entry.cron, at)
                    )
                    self._write(entries)
                    return entries[index]
        return None

    # ------------------------------------------------------------------ file

    def _find(self, entries: builtins.list[CronEntry], id_or_prefix: str) -> CronEntry:
        matches = [e for e in entries if e.id.startswith(id_or_prefix)] if id_or_prefix else []
        exact = [e for e in matches if e.id == id_or_prefix]
        if exact:
            return exact[0]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise ConfigError(
                f"no recurring task with id {id_or_prefix!r}; `llmos schedule list` shows the ids",
                key="id",
            )
        ids = ", ".join(e.id for e in matches)
        raise ConfigError(f"{id_or_prefix!r} matches {ids}; give more of the id", key="id")

    def _read(self) -> builtins.list[CronEntry]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{self.path} is not valid JSON ({exc}); fix it or move it away to start over",
                key=str(self.path),
            ) from exc
        try:
            return [CronEntry.from_json(item) for item in raw["entries"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{self.path} does not hold schedule entries ({type(exc).__name__}: {exc}); "
                "fix it or move it away to start over",
                key=str(self.path),
            ) from exc

    def _write(self, entries: builtins.list[CronEntry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": FORMAT_VERSION, "entries": [e.to_json() for e in entries]}
        write_atomic(self.path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
