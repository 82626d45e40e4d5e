"""The orchestrator's plan: its JSON schema, how it is asked for, and how it is checked.

The model answers the planning prompt with one JSON object::

    {"subtasks": [
        {"id": "s1", "description": "...", "agent": "researcher",
         "depends_on": [], "expected_output": "..."},
        {"id": "s2", "description": "...", "depends_on": ["s1"], "expected_output": "...",
         "agent": {"name": "translator", "description": "...", "tools": ["Read", "Write"],
                   "prompt": "You are ..."}}]}

``agent`` is either the name of an existing agent or a new definition, which the
orchestrator writes to the agents folder marked ``generated: true``. Everything
the model can get wrong (bad JSON, unknown agent or tool, an unknown or cyclic
dependency) is a :class:`PlanInvalid` whose message is shown to the model once
so it can correct itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmos.agents import Agent, AgentFormatError, AgentLibrary, agent_from_plan
from llmos.errors import TaskFailed

MAX_SUBTASKS = 12
SUBTASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)\n```", re.DOTALL)


class PlanInvalid(TaskFailed):
    """The model's plan cannot be used; ``output`` is what the model answered."""

    def __init__(self, message: str, *, output: str = "", task_id: str = "") -> None:
        super().__init__(message, task_id=task_id)
        self.output = output


class SubtaskSpec(BaseModel):
    """One subtask as the model writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    description: str = Field(min_length=1)
    agent: str | dict[str, Any]
    depends_on: list[str] = Field(default_factory=list)
    expected_output: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not SUBTASK_ID.fullmatch(value):
            raise ValueError(f"id {value!r} must be 1-32 letters, digits, '_' or '-'")
        return value


class PlanSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subtasks: list[SubtaskSpec] = Field(min_length=1, max_length=MAX_SUBTASKS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Subtask:
    """A checked subtask: its agent is a name that exists (or is created with the plan)."""

    id: str
    description: str
    agent: str
    depends_on: tuple[str, ...] = ()
    expected_output: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "agent": self.agent,
            "depends_on": list(self.depends_on),
            "expected_output": self.expected_output,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Subtask:
        return cls(
            id=str(data["id"]),
            description=str(data["description"]),
            agent=str(data["agent"]),
            depends_on=tuple(str(d) for d in data.get("depends_on", ())),
            expected_output=str(data.get("expected_output", "")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Subtasks in a valid order (every dependency before its dependents) and new agents."""

    subtasks: tuple[Subtask, ...]
    new_agents: tuple[Agent, ...] = ()

    def get(self, subtask_id: str) -> Subtask:
        return next(s for s in self.subtasks if s.id == subtask_id)

    @property
    def agent_names(self) -> list[str]:
        return sorted({s.agent for s in self.subtasks})

    def waves(self) -> list[list[str]]:
        """Subtask ids grouped by depth: each wave can run at the same time."""
        depth: dict[str, int] = {}
        for subtask in self.subtasks:
            depth[subtask.id] = 1 + max((depth[d] for d in subtask.depends_on), default=-1)
        waves: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for subtask_id, level in depth.items():
            waves[level].append(subtask_id)
        return waves

    def to_json(self) -> dict[str, Any]:
        return {"subtasks": [s.to_json() for s in self.subtasks]}


def planning_prompt(goal: str, agents: list[Agent], tools: Collection[str]) -> str:
    """The one planning request: the goal, the agents to choose from and the schema."""
    roster = "\n".join(f"- {a.name}: {a.description}" for a in agents) or "- (none yet)"
    return f"""Plan how specialised agents will accomplish this goal:

{goal}

Available agents:
{roster}

Tools an agent may be given: {", ".join(sorted(tools))}

Split the goal into 2-{MAX_SUBTASKS} subtasks, each one job for one agent. Subtasks that do
not need each other's results must not depend on each other, so they run at the same
time. A subtask receives the outputs of the subtasks it depends on. Use an existing
agent when one fits; otherwise define a new one inline.

Answer with one JSON object and nothing else:
{{"subtasks": [{{"id": "s1", "description": "what to do, self-contained",
  "agent": "an agent name, or {{\\"name\\": \\"...\\", \\"description\\": \\"...\\",
  \\"tools\\": [\\"Read\\"], \\"prompt\\": \\"the system prompt\\"}}",
  "depends_on": ["ids of subtasks whose output it needs"],
  "expected_output": "what the subtask must produce"}}]}}"""


def retry_prompt(error: str) -> str:
    return (
        f"That plan cannot be used: {error}\n"
        "Answer again with the corrected plan: one JSON object in the same schema, nothing else."
    )


def extract_json(text: str) -> Any:
    """The JSON object in a model's answer: a fenced block, or from the first '{' to the last '}'.

    Raises:
        PlanInvalid: there is no parsable JSON object.
    """
    fenced = _FENCE.search(text)
    candidate = fenced.group(1) if fenced else text[text.find("{") : text.rfind("}") + 1]
    if not candidate.strip():
        raise PlanInvalid("the answer holds no JSON object", output=text)
    try:
        return json.loads(candidate)
    except json.JSONDecodeError as exc:
        raise PlanInvalid(f"the JSON does not parse: {exc}", output=text) from exc


def parse_plan(text: str, *, library: AgentLibrary, tools: Collection[str]) -> Plan:
    """Check a model's plan against the schema, the agents, the tools and the DAG rules.

    Raises:
        PlanInvalid: with a message that says what is wrong, for the model and the user.
    """
    data = extract_json(text)
    try:
        spec = PlanSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'plan'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise PlanInvalid(f"the plan does not fit the schema: {problems}", output=text) from exc
    try:
        return _check(spec, library, tools)
    except PlanInvalid as exc:
        raise PlanInvalid(str(exc), output=text) from None


def _check(spec: PlanSpec, library: AgentLibrary, tools: Collection[str]) -> Plan:
    ids = [s.id for s in spec.subtasks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise PlanInvalid(f"subtask ids must be unique; repeated: {', '.join(duplicates)}")
    new_agents: dict[str, Agent] = {}
    subtasks: dict[str, Subtask] = {}
    for item in spec.subtasks:
        unknown = [d for d in item.depends_on if d not in ids]
        if unknown:
            raise PlanInvalid(
                f"subtask {item.id} depends on unknown id(s) {', '.join(unknown)}; "
                f"ids are {', '.join(ids)}"
            )
        agent = _agent_of(item, library, tools, new_agents)
        subtasks[item.id] = Subtask(
            id=item.id,
            description=item.description.strip(),
            agent=agent,
            depends_on=tuple(dict.fromkeys(item.depends_on)),
            expected_output=item.expected_output.strip(),
        )
    return Plan(subtasks=_ordered(subtasks), new_agents=tuple(new_agents.values()))


def _agent_of(
    item: SubtaskSpec, library: AgentLibrary, tools: Collection[str], new: dict[str, Agent]
) -> str:
    if isinstance(item.agent, str):
        if item.agent in new or library.find(item.agent) is not None:
            return item.agent
        known = ", ".join(sorted({*library.names(), *new})) or "none"
        raise PlanInvalid(
            f"subtask {item.id} names agent {item.agent!r}, which does not exist; use one of "
            f"{known}, or define a new agent inline as an object"
        )
    try:
        agent = agent_from_plan(item.agent)
    except AgentFormatError as exc:
        raise PlanInvalid(f"subtask {item.id}: {exc}") from None
    bad_tools = sorted(set(agent.tools or ()) - set(tools))
    if bad_tools:
        raise PlanInvalid(
            f"subtask {item.id}: agent {agent.name!r} asks for unknown tool(s) "
            f"{', '.join(bad_tools)}; tools are {', '.join(sorted(tools))}"
        )
    existing = new.get(agent.name) or library.find(agent.name)
    if existing is not None and not existing.same_definition(agent):
        raise PlanInvalid(
            f"subtask {item.id} defines agent {agent.name!r}, but an agent by that name "
            "already exists with another definition; use it by name or choose a new name"
        )
    new.setdefault(agent.name, agent)
    return agent.name


def _ordered(subtasks: dict[str, Subtask]) -> tuple[Subtask, ...]:
    """A topological order (stable: plan order among ready subtasks); a cycle is an error."""
    done: list[Subtask] = []
    placed: set[str] = set()
    pending = list(subtasks.values())
    while pending:
        ready = [s for s in pending if set(s.depends_on) <= placed]
        if not ready:
            cycle = ", ".join(s.id for s in pending)
            raise PlanInvalid(f"the dependencies form a cycle among subtasks {cycle}")
        for subtask in ready:
            done.append(subtask)
            placed.add(subtask.id)
        pending = [s for s in pending if s.id not in placed]
    return tuple(done)
