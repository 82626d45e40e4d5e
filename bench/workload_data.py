"""The workload: task families from ``bench/data/families.yaml`` become a task sequence.

A family first appears (a *novel* task), then recurs the way people reuse an
agent: *repeat* (the same goal again), *slot* (other file names and values),
*paraphrase* (other words, same job), and *near-miss* (a goal close to the
family's that needs different work and must not be served by its trace).
Each task carries its known-good steps and its own check: the files listed
must end up byte-identical to a reference run of those steps in a clean
directory, and the ``absent`` paths must not exist.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmos.errors import ConfigError

FAMILIES = Path(__file__).with_name("data") / "families.yaml"
#: How recurrences are drawn (near-miss falls back to slot for a family without near misses).
KIND_WEIGHTS = {"repeat": 0.25, "slot": 0.32, "paraphrase": 0.2, "near-miss": 0.23}
#: Share of the sequence by which every family has appeared once.
INTRODUCTION_SPAN = 0.7


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadTask:
    """One task of the sequence, with what it takes to do and to check it."""

    index: int
    family: str
    job: str
    kind: str
    goal: str
    steps: tuple[Mapping[str, Any], ...]
    setup: Mapping[str, str] = field(default_factory=dict)
    check: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Family:
    """A kind of task as written in the YAML file."""

    id: str
    slots: Mapping[str, Sequence[str]]
    goals: Sequence[str]
    steps: Sequence[Mapping[str, Any]]
    check: Sequence[str]
    setup: Mapping[str, str]
    absent: Sequence[str]
    near: Sequence[Mapping[str, Any]]

    def task(
        self,
        index: int,
        kind: str,
        values: Mapping[str, str],
        *,
        goal: int = 0,
        near: int | None = None,
    ) -> WorkloadTask:
        """The task this family (or its near miss number ``near``) gives with ``values``."""
        source: Mapping[str, Any] = self.near[near] if near is not None else {}
        return WorkloadTask(
            index=index,
            family=self.id,
            job=self.id if near is None else f"{self.id}/near-{near}",
            kind=kind,
            goal=fill(source.get("goal", self.goals[goal]), values),
            steps=tuple(fill(step, values) for step in source.get("steps", self.steps)),
            setup=fill(dict(source.get("setup", self.setup)), values),
            check=tuple(fill(path, values) for path in source.get("check", self.check)),
            absent=tuple(fill(path, values) for path in source.get("absent", self.absent)),
        )


def fill(template: Any, values: Mapping[str, str]) -> Any:
    """``template`` with every ``{{slot}}`` replaced, through strings, lists and dicts."""
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace("{{" + name + "}}", value)
        return template
    if isinstance(template, Mapping):
        return {fill(key, values): fill(item, values) for key, item in template.items()}
    if isinstance(template, list | tuple):
        return [fill(item, values) for item in template]
    return template


def load_families(path: Path = FAMILIES) -> list[Family]:
    """Read and validate the family file; problems name the family and the field."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    families = []
    for number, item in enumerate(raw, start=1):
        name = item.get("id", f"#{number}")
        missing = [key for key in ("id", "slots", "goals", "steps") if key not in item]
        if missing:
            raise ConfigError(f"{path}: family {name} lacks {', '.join(missing)}; add them")
        families.append(
            Family(
                id=item["id"],
                slots={k: [str(v) for v in vs] for k, vs in item["slots"].items()},
                goals=item["goals"],
                steps=item["steps"],
                check=item.get("check", []),
                setup=item.get("setup", {}),
                absent=item.get("absent", []),
                near=item.get("near", []),
            )
        )
    return families


def build_workload(
    size: int = 220, *, seed: int = 11, families: Sequence[Family] | None = None
) -> list[WorkloadTask]:
    """A realistic order: families are introduced over the first 70%, then recur.

    Popular families recur more (weights fall with rank, as in real use).
    ``size`` smaller than the number of families introduces only that many.
    """
    families = list(families or load_families())
    rng = random.Random(seed)
    rng.shuffle(families)
    families = families[:size]
    intro_end = max(len(families), int(size * INTRODUCTION_SPAN))
    intro_at = {0, *rng.sample(range(1, intro_end), len(families) - 1)}
    popularity = [1 / (rank + 1) ** 0.7 for rank in range(len(families))]
    seen: dict[str, list[WorkloadTask]] = {}
    seen_values: dict[str, list[dict[str, str]]] = {}
    tasks: list[WorkloadTask] = []
    introduced = 0
    for index in range(size):
        if index in intro_at:
            family = families[introduced]
            introduced += 1
            values = {name: options[0] for name, options in family.slots.items()}
            task = family.task(index, "novel", values)
            seen_values[family.id] = [values]
        else:
            family = rng.choices(families[:introduced], popularity[:introduced])[0]
            task = _recurrence(family, index, rng, seen[family.id], seen_values[family.id])
        seen.setdefault(family.id, []).append(task)
        tasks.append(task)
    return tasks


def _recurrence(
    family: Family,
    index: int,
    rng: random.Random,
    before: list[WorkloadTask],
    values_before: list[dict[str, str]],
) -> WorkloadTask:
    kind = rng.choices(list(KIND_WEIGHTS), list(KIND_WEIGHTS.values()))[0]
    own = [t for t in before if t.kind != "near-miss"]
    if kind == "near-miss" and family.near:
        near = rng.randrange(len(family.near))
        return family.task(index, "near-miss", rng.choice(values_before), near=near)
    if kind == "repeat":
        previous = rng.choice(own)
        return WorkloadTask(
            index=index,
            family=family.id,
            job=family.id,
            kind="repeat",
            goal=previous.goal,
            steps=previous.steps,
            setup=previous.setup,
            check=previous.check,
            absent=previous.absent,
        )
    if kind == "paraphrase" and len(family.goals) > 1:
        goal = rng.randrange(1, len(family.goals))
        return family.task(index, "paraphrase", rng.choice(values_before), goal=goal)
    values = {name: rng.choice(options) for name, options in family.slots.items()}
    if values in values_before:
        name = rng.choice(list(family.slots))
        values[name] = rng.choice([v for v in family.slots[name] if v != values[name]])
    values_before.append(values)
    return family.task(index, "slot", values)


# ----------------------------------------------------------------- reference runs and checks


def prepare(task: WorkloadTask, folder: Path) -> None:
    """Write the task's input files into its working directory."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in task.setup.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")


def run_reference(task: WorkloadTask, folder: Path) -> None:
    """Do the task's known-good steps directly (no llmos) in ``folder``."""
    prepare(task, folder)
    for step in task.steps:
        tool, given = step["tool"], step["input"]
        if tool == "Write":
            target = folder / given["file_path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(given["content"], encoding="utf-8")
        elif tool == "Bash":
            done = subprocess.run(
                ["bash", "-c", given["command"]],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if done.returncode != 0:
                raise ConfigError(
                    f"workload task {task.index} ({task.family}): reference step "
                    f"{given['command']!r} failed: {done.stderr.strip()[:200]}; "
                    "fix the family in bench/data/families.yaml"
                )
        elif tool != "Read":
            raise ConfigError(
                f"workload task {task.index}: tool {tool!r} is not supported in "
                "families (use Write, Bash or Read)"
            )


class Checker:
    """Each task's expected files, from one reference run per distinct task."""

    def __init__(self) -> None:
        self._expected: dict[tuple[str, str], dict[str, bytes]] = {}

    def expected(self, task: WorkloadTask) -> dict[str, bytes]:
        key = (task.goal, repr(sorted(task.setup.items())))
        if key not in self._expected:
            folder = Path(tempfile.mkdtemp(prefix="llmos-bench-ref-"))
            try:
                run_reference(task, folder)
                self._expected[key] = {path: (folder / path).read_bytes() for path in task.check}
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        return self._expected[key]

    def failures(self, task: WorkloadTask, folder: Path) -> list[str]:
        """What differs in ``folder`` from the task's reference; empty when the check holds."""
        problems = []
        for path, content in self.expected(task).items():
            target = folder / path
            if not target.is_file():
                problems.append(f"{path} is missing")
            elif target.read_bytes() != content:
                problems.append(f"{path} differs from the reference")
        problems.extend(
            f"{path} should not exist" for path in task.absent if (folder / path).exists()
        )
        return problems
