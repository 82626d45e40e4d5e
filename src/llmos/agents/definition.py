"""An agent: a Markdown file whose YAML front matter describes it and whose body is its prompt.

```markdown
---
name: researcher
description: Finds facts and sources and reports them with citations.
tools: [Read, Grep, Glob, WebFetch, Write]
model: inherit
max_turns: 20
version: 1
---
You are a researcher ...
```

Parsing is strict (unknown keys, a wrong type, a missing body are errors that
name the file), so a typo in an agent never silently changes what it does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmos.errors import ConfigError

NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,39}")
INHERIT = "inherit"
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.DOTALL)


class AgentFormatError(ConfigError):
    """An agent file (or an agent defined in a plan) is invalid; ``path`` points at the file."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message, key=str(path) if path else None)
        self.path = path


class AgentSpec(BaseModel):
    """The front matter's schema, and the shape of a new agent in a plan (``prompt`` = body)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = Field(min_length=1)
    tools: list[str] | None = None
    model: str = INHERIT
    max_turns: int | None = Field(None, gt=0, le=200)
    version: int = Field(1, ge=1)
    generated: bool = False
    prompt: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_PATTERN.fullmatch(value):
            raise ValueError(
                f"agent name {value!r} must be 1-40 lowercase letters, digits or '-', "
                "starting with a letter (e.g. data-analyst)"
            )
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Agent:
    """A specialised agent: its prompt, the tools it may use, its model and turn limit.

    ``tools`` None means every registered tool; ``model`` "inherit" means the task's
    model; ``max_turns`` None means the learner's setting. ``source`` says where the
    agent came from (builtin, workspace, project) for listings.
    """

    name: str
    description: str
    prompt: str
    tools: tuple[str, ...] | None = None
    model: str = INHERIT
    max_turns: int | None = None
    version: int = 1
    generated: bool = False
    path: Path | None = None
    source: str = "workspace"

    @classmethod
    def from_spec(cls, spec: AgentSpec, *, path: Path | None = None, source: str = "") -> Agent:
        return cls(
            name=spec.name,
            description=spec.description.strip(),
            prompt=spec.prompt.strip(),
            tools=None if spec.tools is None else tuple(spec.tools),
            model=spec.model,
            max_turns=spec.max_turns,
            version=spec.version,
            generated=spec.generated,
            path=path,
            source=source or "workspace",
        )

    def with_path(self, path: Path, source: str) -> Agent:
        return replace(self, path=path, source=source)

    def same_definition(self, other: Agent) -> bool:
        """True when both define the same agent (where they are stored does not count)."""
        return render_agent(self) == render_agent(other)


def _error_text(exc: ValidationError) -> str:
    problem = exc.errors()[0]
    where = ".".join(str(p) for p in problem["loc"]) or "front matter"
    message = str(problem["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


def parse_agent(text: str, *, path: Path | None = None, source: str = "workspace") -> Agent:
    """Parse an agent's Markdown; errors name the file and the offending key.

    Raises:
        AgentFormatError: no front matter, bad YAML, a bad key, or an empty prompt.
    """
    found = _FRONT.match(text.lstrip("\ufeff"))
    if found is None:
        raise AgentFormatError(
            "no YAML front matter: the file must start with a '---' line, the keys "
            "(name, description, tools, model, max_turns), a '---' line, then the prompt",
            path=path,
        )
    import yaml  # on first use: a run that reads no agent file never needs it

    try:
        meta: Any = yaml.safe_load(found.group(1))
    except yaml.YAMLError as exc:
        raise AgentFormatError(f"front matter is not valid YAML: {exc}", path=path) from exc
    if not isinstance(meta, dict):
        raise AgentFormatError("front matter must be a mapping of keys to values", path=path)
    if "prompt" in meta:
        raise AgentFormatError("'prompt' is not a key: the prompt is the body", path=path)
    body = found.group(2).strip()
    if not body:
        raise AgentFormatError("the body (the agent's system prompt) is empty", path=path)
    try:
        spec = AgentSpec.model_validate({**meta, "prompt": body})
    except ValidationError as exc:
        raise AgentFormatError(_error_text(exc), path=path) from exc
    if path is not None and path.stem != spec.name:
        raise AgentFormatError(
            f"name {spec.name!r} does not match the file name {path.name!r}; "
            f"rename the file to {spec.name}.md or change the name",
            path=path,
        )
    return Agent.from_spec(spec, path=path, source=source)


def agent_from_plan(data: Any) -> Agent:
    """An agent defined inline in a plan (the prompt in ``prompt``), marked as generated.

    Raises:
        AgentFormatError: the definition does not fit :class:`AgentSpec`.
    """
    try:
        spec = AgentSpec.model_validate({**data, "generated": True})
    except ValidationError as exc:
        raise AgentFormatError(f"new agent: {_error_text(exc)}") from exc
    except TypeError as exc:
        raise AgentFormatError(f"new agent must be an object, got {data!r}") from exc
    if not spec.prompt.strip():
        raise AgentFormatError(f"new agent {spec.name!r}: 'prompt' (its system prompt) is empty")
    return Agent.from_spec(spec, source="generated")


def render_agent(agent: Agent) -> str:
    """The Markdown file of an agent; :func:`parse_agent` reads back the same agent."""
    meta: dict[str, Any] = {"name": agent.name, "description": agent.description}
    if agent.tools is not None:
        meta["tools"] = list(agent.tools)
    meta["model"] = agent.model
    if agent.max_turns is not None:
        meta["max_turns"] = agent.max_turns
    meta["version"] = agent.version
    if agent.generated:
        meta["generated"] = True
    import yaml

    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{front}---\n{agent.prompt.strip()}\n"


def scaffold_agent(name: str) -> Agent:
    """A new agent to edit: a valid file with placeholders that say what to write."""
    try:
        AgentSpec(name=name, description="x")
    except ValidationError as exc:
        raise AgentFormatError(_error_text(exc)) from exc
    return Agent(
        name=name,
        description=f"What {name} is for, in one line (the orchestrator reads this to pick it).",
        prompt=(
            f"You are {name}. Say what this agent is expert at, how it works step by step, "
            "what it must never do, and what its final answer must contain."
        ),
        tools=("Read", "Write", "Edit", "Bash", "Glob", "Grep", "LS"),
        max_turns=20,
    )
