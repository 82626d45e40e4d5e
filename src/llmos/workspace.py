"""The workspace on disk: one folder holds settings, memory, ledger and projects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmos.errors import ConfigError


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
    def output(self) -> Path:
        """Where tasks run by default: the agent's working directory."""
        return self.root / "output"

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
            self.output,
        )
        try:
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise ConfigError(
                f"cannot create the workspace at {self.root}: {exc.filename} is a file. "
                "Choose another folder with --workspace or LLMOS_WORKSPACE.",
                key="workspace",
            ) from exc
        return self
