"""Projects: scopes with their own agents and memory, over the shared library.

A project is either a folder's own ``.llmos/`` (found upward from the working
directory, as ``git`` finds ``.git``; it may also hold ``llmos.toml``) or a
named one kept in the llmos home::

    <home>/projects/<name>/     or     <your folder>/.llmos/
      project.toml       created, description (named projects)
      agents/            agents only this project sees (they win over the home's)
      memory/traces/  memory/facts/  memory/index.sqlite
      state/             orchestration state (plans, subtask results), for resume

Tasks work in the user's folder either way; the project decides where what they
learn is kept. The current named project (``llmos projects use NAME``) is
remembered in ``<home>/projects/.current``.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from llmos.errors import ConfigError
from llmos.files import write_atomic
from llmos.workspace import Layout, Workspace

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CURRENT_FILE = ".current"
META_FILE = "project.toml"


class ProjectError(ConfigError):
    """A project name is invalid, taken, or unknown; ``name`` says which."""

    def __init__(self, message: str, *, name: str = "") -> None:
        super().__init__(message, key="project")
        self.name = name


@dataclass(frozen=True, slots=True)
class Project(Layout):
    """One project's folders (the same layout as the workspace's) and its name."""

    name: str

    @property
    def meta_file(self) -> Path:
        return self.root / META_FILE

    def description(self) -> str:
        return str(self._meta().get("description", ""))

    def created(self) -> str:
        return str(self._meta().get("created", ""))

    def _meta(self) -> dict[str, object]:
        try:
            return tomllib.loads(self.meta_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return {}

    def ensure(self) -> Project:
        for folder in (self.agents, self.traces, self.facts, self.state):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def local_project(project_dir: Path) -> Project:
    """The project of a folder's own ``.llmos/``, named after the folder that holds it."""
    return Project(name=project_dir.parent.name or "root", root=project_dir)


def _check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise ProjectError(
            f"project name {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            name=name,
        )
    return name


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class Projects:
    """The projects of a workspace: create, list, select, remove.

    Example:
        >>> projects = Projects(Workspace(root).ensure())
        >>> projects.create("website", description="the company site")
        >>> projects.use("website"); projects.current().name
        'website'
    """

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.root = workspace.projects

    def path(self, name: str) -> Path:
        return self.root / _check_name(name)

    def create(self, name: str, *, description: str = "") -> Project:
        """Create a project's folders; an existing one is an error (nothing is overwritten)."""
        project = Project(name=name, root=self.path(name))
        if project.root.exists():
            raise ProjectError(f"project {name!r} already exists at {project.root}", name=name)
        self.root.mkdir(parents=True, exist_ok=True)
        project.ensure()
        created = datetime.now(UTC).isoformat(timespec="seconds")
        project.meta_file.write_text(
            f"created = {_toml_string(created)}\ndescription = {_toml_string(description)}\n",
            encoding="utf-8",
        )
        return project

    def list(self) -> list[Project]:
        if not self.root.is_dir():
            return []
        return [
            Project(name=p.name, root=p)
            for p in sorted(self.root.iterdir())
            if p.is_dir() and NAME_PATTERN.fullmatch(p.name)
        ]

    def get(self, name: str) -> Project:
        """An existing project.

        Raises:
            ProjectError: no project by that name (the existing ones are listed).
        """
        root = self.path(name)
        if not root.is_dir():
            known = ", ".join(p.name for p in self.list()) or "none"
            raise ProjectError(
                f"no project named {name!r} (projects: {known}); "
                f"create it with `llmos projects new {name}`",
                name=name,
            )
        return Project(name=name, root=root)

    @property
    def current_file(self) -> Path:
        return self.root / CURRENT_FILE

    def use(self, name: str | None) -> Project | None:
        """Make ``name`` the current project (None: no project); persisted in the workspace."""
        if name is None:
            self.current_file.unlink(missing_ok=True)
            return None
        project = self.get(name)
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.current_file, f"{name}\n", durable=False)
        return project

    def current(self) -> Project | None:
        """The project chosen with :meth:`use`, or None (also when it was removed since)."""
        try:
            name = self.current_file.read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):  # none chosen, or no home yet
            return None
        if not name or not NAME_PATTERN.fullmatch(name) or not (self.root / name).is_dir():
            return None
        return Project(name=name, root=self.root / name)

    def resolve(self, name: str | None, project_dir: Path | None = None) -> Project | None:
        """The project a command works in: ``--project NAME`` if given, else the folder's
        own ``.llmos/`` (``project_dir``), else the current named one."""
        if name:
            return self.get(name)
        if project_dir is not None:
            return local_project(project_dir)
        return self.current()

    def remove(self, name: str) -> Path:
        """Delete a project's folder and everything in it; unselect it if it was current."""
        project = self.get(name)
        current = self.current()
        shutil.rmtree(project.root)
        if current is not None and current.name == name:
            self.current_file.unlink(missing_ok=True)
        return project.root

    def stats(self, project: Project) -> dict[str, int]:
        """How much a project holds, for ``projects show``."""

        def count(folder: Path, pattern: str) -> int:
            return sum(1 for p in folder.glob(pattern) if p.is_file()) if folder.is_dir() else 0

        return {
            "agents": count(project.agents, "*.md"),
            "traces": count(project.traces, "*.md"),
            "facts": count(project.facts, "*"),
            "orchestrations": count(project.state, "*.json"),
        }
