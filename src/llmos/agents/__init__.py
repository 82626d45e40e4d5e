"""Agents: Markdown definitions with YAML front matter, and the library that loads them."""

from llmos.agents.definition import (
    INHERIT,
    Agent,
    AgentFormatError,
    AgentSpec,
    agent_from_plan,
    parse_agent,
    render_agent,
    scaffold_agent,
)
from llmos.agents.library import BUILTIN_FOLDER, AgentLibrary, AgentProblem

__all__ = [
    "BUILTIN_FOLDER",
    "INHERIT",
    "Agent",
    "AgentFormatError",
    "AgentLibrary",
    "AgentProblem",
    "AgentSpec",
    "agent_from_plan",
    "parse_agent",
    "render_agent",
    "scaffold_agent",
]
