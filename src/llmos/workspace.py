"""llmos's state on disk: one folder (the llmos home, or ``--workspace``) holds settings,
memory, ledger and projects; a project's own ``.llmos/`` folder has the same layout
for what it adds (agents, memory).

Tasks do not work here: they work in the user's folder (``Settings.cwd``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmos.errors import ConfigError

#: A project's own folder (settings, agents, a trace scope), found upward from the
#: working directory like ``.git``; it is llmos state wherever it lies.
PROJECT_DIR = ".llmos"
#: Where llmos kept its state before issue 17: ``./workspace`` in every folder.
OLD_LAYOUT_DIR = "workspace"


@dataclass(frozen=True, slots=True)
class Layout:
    """The folders every llmos scope has: the workspace, and each project in it."""

    root: Path

    @property
    def agents(self) -> Path:
        return self.root / "agents"

    @property
    def memory(self) -> Path:
        return self.root / "memory"

    @property
    def traces(self) -> Path:
        return self.memory / "traces"

    @property
    def facts(self) -> Path:
        return self.memory / "facts"

    @property
    def state(self) -> Path:
        """Orchestration state (plans and subtask results) kept for resume."""
        return self.root / "state"

    @property
    def keys(self) -> Path:
        """llmos's own secrets: state no task may read or write (never mounted in a sandbox)."""
        return self.root / "keys"

    @property
    def trace_key(self) -> Path:
        """The key that signs this installation's traces (the workspace's is the one in use)."""
        return self.keys / "trace-signing.key"


@dataclass(frozen=True, slots=True)
class Workspace(Layout):
    """Paths inside a workspace (layout in DESIGN.md)."""

    @property
    def config_file(self) -> Path:
        return self.root / "llmos.toml"

    @property
    def plugins(self) -> Path:
        return self.root / "plugins"

    @property
    def hooks(self) -> Path:
        return self.root / "hooks"

    @property
    def sessions(self) -> Path:
        return self.memory / "sessions"

    @property
    def index(self) -> Path:
        return self.memory / "index.sqlite"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.sqlite"

    @property
    def projects(self) -> Path:
        return self.root / "projects"

    def ensure(self) -> Workspace:
        """Create the layout on first use; a file in the way is a clear error."""
        folders = (
            self.agents,
            self.plugins,
            self.hooks,
            self.traces,
            self.facts,
            self.sessions,
            self.projects,
        )
        try:
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise ConfigError(
                f"cannot create llmos's state folder at {self.root}: {exc.filename} is a file. "
                "Choose another folder with LLMOS_HOME or --workspace.",
                key="workspace",
            ) from exc
        except OSError as exc:
            raise ConfigError(
                f"cannot create llmos's state folder at {self.root}: {exc.strerror}. "
                "Choose a writable folder with LLMOS_HOME or --workspace.",
                key="workspace",
            ) from exc
        return self

    def exists(self) -> bool:
        """Whether anything was ever kept here (read-only commands create nothing)."""
        return self.root.is_dir()


def old_layout_in(folder: Path) -> Path | None:
    """``folder/workspace`` when it is an llmos state folder of the old layout, else None.

    Only llmos's own marks count (its config, trace folder or ledger), so a user's
    folder that happens to be called ``workspace`` is not mistaken for one.
    """
    candidate = folder / OLD_LAYOUT_DIR
    marks = ("llmos.toml", "ledger.sqlite", "memory/traces")
    if any((candidate / mark).exists() for mark in marks):
        return candidate
    return None
