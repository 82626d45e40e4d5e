"""Load plugin tools and user hooks from the workspace and from installed packages.

Plugin tools: every ``*.py`` in ``workspace/plugins/`` and every entry point in
the ``llmos.plugins`` group; each :class:`~llmos.tools.base.Tool` found (what
``@tool`` makes) is registered. User hooks: every ``*.py`` in
``workspace/hooks/`` and entry points ``llmos.hooks``; each function marked
with ``@hook`` is registered on the pipeline. Files whose name starts with
``_`` are skipped (helpers). A file that fails to import is reported with
its path and error and skipped: one broken plugin never stops llmos. Two
plugins that define the same tool name are a :class:`PluginConflictError`
naming both, because the model would otherwise get one of them at random.

Example:
    report = load_plugins(Workspace(root), llmos.tools)
    for problem in report.problems:
        print(problem)
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType

from llmos.hooks.pipeline import HookPipeline
from llmos.plugins.decorator import SOURCE_ATTRIBUTE, hook_spec
from llmos.plugins.errors import PluginConflictError
from llmos.tools.base import Tool, ToolRegistry
from llmos.workspace import Workspace

PLUGIN_GROUP = "llmos.plugins"
HOOK_GROUP = "llmos.hooks"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadProblem:
    """A plugin or hook source that was skipped: where it is and what went wrong."""

    origin: str
    error: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.error}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadReport:
    """What a load registered (tool or hook names) and what it skipped."""

    loaded: tuple[str, ...] = ()
    problems: tuple[LoadProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @classmethod
    def combined(cls, *reports: LoadReport) -> LoadReport:
        return cls(
            loaded=tuple(name for report in reports for name in report.loaded),
            problems=tuple(problem for report in reports for problem in report.problems),
        )


def load_plugins(
    workspace: Workspace, registry: ToolRegistry, *, entry_points: bool = True
) -> LoadReport:
    """Register every plugin tool found; call it once per registry.

    Raises:
        PluginConflictError: two sources define the same tool name, or a plugin
            reuses the name of a tool already in ``registry``. Nothing is
            registered then.
    """
    found: list[tuple[Tool, str]] = []
    problems: list[LoadProblem] = []
    seen: set[int] = set()
    for origin, objects in _sources(workspace.plugins, PLUGIN_GROUP, "plugin", entry_points):
        if isinstance(objects, LoadProblem):
            problems.append(objects)
            continue
        for obj in objects:
            if isinstance(obj, Tool) and id(obj) not in seen:
                seen.add(id(obj))
                found.append((obj, origin))
    _refuse_conflicts(found, registry)
    for tool, _ in found:
        registry.register(tool)
    return LoadReport(loaded=tuple(tool.name for tool, _ in found), problems=tuple(problems))


def load_user_hooks(
    workspace: Workspace, pipeline: HookPipeline, *, entry_points: bool = True
) -> LoadReport:
    """Register every ``@hook`` function found, after the hooks already on ``pipeline``."""
    loaded: list[str] = []
    problems: list[LoadProblem] = []
    seen: set[int] = set()
    for _, objects in _sources(workspace.hooks, HOOK_GROUP, "hook", entry_points):
        if isinstance(objects, LoadProblem):
            problems.append(objects)
            continue
        for obj in objects:
            spec = hook_spec(obj)
            if spec is None or id(obj) in seen:
                continue
            seen.add(id(obj))
            registered = spec.bind(obj)  # type: ignore[arg-type]  # hook_spec checked callable
            pipeline.register(registered)
            loaded.append(registered.name)
    return LoadReport(loaded=tuple(loaded), problems=tuple(problems))


def _sources(
    folder: Path, group: str, kind: str, entry_points: bool
) -> Iterator[tuple[str, list[object] | LoadProblem]]:
    """Each source's origin and the objects it defines, or the problem loading it."""
    if folder.is_dir():
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            try:
                module = import_file(path, kind)
            except (Exception, SystemExit) as exc:  # a plugin's own bug, whatever it is
                yield str(path), LoadProblem(origin=str(path), error=_explain(exc, path))
                continue
            yield str(path), list(vars(module).values())
    if not entry_points:
        return
    for entry in metadata.entry_points(group=group):
        origin = _entry_origin(entry)
        try:
            target = entry.load()
        except (Exception, SystemExit) as exc:
            yield origin, LoadProblem(origin=origin, error=_explain(exc, None))
            continue
        yield origin, _members(target)


def import_file(path: Path, kind: str) -> ModuleType:
    """Import ``path`` under a module name unique to its location.

    A plugin file named ``json.py`` must not shadow the standard library, and
    two workspaces with a ``weather.py`` each must not share one module.
    """
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"_llmos_{kind}_{digest}_{stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    setattr(module, SOURCE_ATTRIBUTE, path.stem)
    sys.modules[module_name] = module  # dataclasses and pydantic look their module up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _members(target: object) -> list[object]:
    """What an entry point offers: a module's globals, an iterable of objects, or one object."""
    if isinstance(target, ModuleType):
        return list(vars(target).values())
    if isinstance(target, list | tuple | set | frozenset):
        return list(target)
    return [target]


def _refuse_conflicts(found: Iterable[tuple[Tool, str]], registry: ToolRegistry) -> None:
    origins: dict[str, str] = {}
    clashes: list[tuple[str, str]] = []
    for tool, origin in found:
        name = tool.name
        existing = registry.get(name)
        if existing is not None:
            why = f"{origin} defines the tool {name!r}, already registered ({existing.source})"
            clashes.append((name, why))
        elif name in origins:
            why = f"two plugins define the tool {name!r}: {origins[name]} and {origin}"
            clashes.append((name, why))
        else:
            origins[name] = origin
    if clashes:
        message = "; ".join(why for _, why in clashes)
        raise PluginConflictError(
            f"{message}. Rename one of them with @tool(name=...).", tool=clashes[0][0]
        )


def _entry_origin(entry: metadata.EntryPoint) -> str:
    dist = f" of {entry.dist.name}" if entry.dist is not None else ""
    return f"entry point {entry.group}:{entry.name} ({entry.value}){dist}"


def _explain(exc: BaseException, path: Path | None) -> str:
    """The error with the line of the plugin file it came from, when there is one."""
    if isinstance(exc, SyntaxError):  # its message already names the file and line
        return f"{type(exc).__name__}: {exc}"
    line = None
    if path is not None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        line = frames[-1].lineno if frames else None
    where = f" (line {line})" if line else ""
    return f"{type(exc).__name__}: {exc}{where}"
