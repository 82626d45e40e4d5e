"""The agents a task can use: project agents over workspace agents over the shipped ones.

Each folder is rescanned cheaply on every lookup (one ``stat`` per file): a file
whose modification time or size changed is parsed again, a new file appears, a
deleted one disappears. So an agent edited while llmos runs is used at once (hot
reload). A file that does not parse is skipped and reported in
:attr:`AgentLibrary.problems` with its path and what is wrong; it never hides
the other agents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llmos.agents.definition import NAME_PATTERN, Agent, AgentFormatError, parse_agent, render_agent
from llmos.files import write_atomic

BUILTIN_FOLDER = Path(__file__).parent / "builtin"
SUFFIX = ".md"


@dataclass(frozen=True, slots=True)
class AgentProblem:
    """A file that was skipped, and why."""

    path: Path
    message: str


@dataclass(slots=True)
class _Layer:
    """One folder of agents and what was parsed from it, keyed by file stamp."""

    folder: Path
    source: str
    writable: bool
    cache: dict[Path, tuple[tuple[int, int], Agent | AgentProblem]] = field(default_factory=dict)

    def scan(self) -> list[Agent | AgentProblem]:
        try:
            paths = sorted(p for p in self.folder.glob(f"*{SUFFIX}") if p.is_file())
        except OSError:
            paths = []
        seen: dict[Path, tuple[tuple[int, int], Agent | AgentProblem]] = {}
        for path in paths:
            try:
                info = path.stat()
            except FileNotFoundError:
                continue  # deleted between glob and stat
            stamp = (info.st_mtime_ns, info.st_size)
            cached = self.cache.get(path)
            seen[path] = cached if cached and cached[0] == stamp else (stamp, self._load(path))
        self.cache = seen
        return [item for _, item in seen.values()]

    def _load(self, path: Path) -> Agent | AgentProblem:
        try:
            return parse_agent(path.read_text(encoding="utf-8"), path=path, source=self.source)
        except AgentFormatError as exc:
            return AgentProblem(path, str(exc).removeprefix(f"{path}: "))
        except (OSError, UnicodeDecodeError) as exc:
            return AgentProblem(path, f"cannot be read: {exc}")


class AgentLibrary:
    """Agents by name from several folders; the first folder that has a name wins.

    Example:
        >>> library = AgentLibrary.for_folders(project.agents, workspace.agents)
        >>> library.get("researcher").tools
        ('Read', 'Grep', 'Glob', 'WebFetch', 'Write')
        >>> library.write(new_agent)            # into the first writable folder
    """

    def __init__(self, layers: Sequence[tuple[Path, str]], *, builtin: bool = True) -> None:
        self._layers = [_Layer(folder, source, writable=True) for folder, source in layers]
        if builtin:
            self._layers.append(_Layer(BUILTIN_FOLDER, "builtin", writable=False))

    @classmethod
    def for_folders(
        cls, project_agents: Path | None, workspace_agents: Path, *, builtin: bool = True
    ) -> AgentLibrary:
        """The usual stack: a project's agents (if any), the workspace's, the shipped ones."""
        layers = [(workspace_agents, "workspace")]
        if project_agents is not None:
            layers.insert(0, (project_agents, "project"))
        return cls(layers, builtin=builtin)

    @property
    def folder(self) -> Path:
        """Where new agents are written (the project's folder when there is a project)."""
        for layer in self._layers:
            if layer.writable:
                return layer.folder
        raise AgentFormatError("this agent library has no writable folder")

    def _scan(self) -> tuple[dict[str, Agent], list[AgentProblem]]:
        agents: dict[str, Agent] = {}
        problems: list[AgentProblem] = []
        for layer in self._layers:
            for item in layer.scan():
                if isinstance(item, AgentProblem):
                    problems.append(item)
                else:
                    agents.setdefault(item.name, item)
        return agents, problems

    def agents(self) -> list[Agent]:
        """Every usable agent, sorted by name (shadowed ones left out)."""
        agents, _ = self._scan()
        return [agents[name] for name in sorted(agents)]

    @property
    def problems(self) -> list[AgentProblem]:
        """The files skipped at the last scan, with their paths and errors."""
        return self._scan()[1]

    def names(self) -> list[str]:
        return sorted(self._scan()[0])

    def find(self, name: str) -> Agent | None:
        return self._scan()[0].get(name)

    def get(self, name: str) -> Agent:
        """The agent called ``name``; a missing or broken one is an error that says which.

        Raises:
            AgentFormatError: no such agent (known names listed), or its file is broken.
        """
        agents, problems = self._scan()
        if name in agents:
            return agents[name]
        for problem in problems:
            if problem.path.stem == name:
                raise AgentFormatError(problem.message, path=problem.path)
        known = ", ".join(sorted(agents)) or "none"
        raise AgentFormatError(
            f"no agent named {name!r}; known agents: {known}. "
            f"Create one with `llmos agents new {name}`"
        )

    def write(self, agent: Agent) -> Agent:
        """Write an agent file atomically into :attr:`folder`; returns it with its path."""
        if not NAME_PATTERN.fullmatch(agent.name):
            raise AgentFormatError(f"agent name {agent.name!r} is not a valid file name")
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{agent.name}{SUFFIX}"
        write_atomic(path, render_agent(agent), durable=False)
        source = next(layer.source for layer in self._layers if layer.folder == folder)
        return agent.with_path(path, source)

    def remove(self, name: str) -> Path:
        """Delete an agent's file from the first writable folder that has it.

        Raises:
            AgentFormatError: the agent is shipped with llmos, or there is none by that name.
        """
        for layer in self._layers:
            path = layer.folder / f"{name}{SUFFIX}"
            if path.is_file():
                if not layer.writable:
                    raise AgentFormatError(
                        f"{name!r} is shipped with llmos and cannot be removed; to change it, "
                        f"create {self.folder / path.name} (it takes precedence)"
                    )
                path.unlink()
                return path
        raise AgentFormatError(f"no agent file named {name}{SUFFIX} in {self.folder}")
