"""The conversation between the agent loop and a backend, and token usage.

Frozen dataclasses with a ``kind`` literal, so that one pydantic ``TypeAdapter``
can serialise them for the session log and traces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Discriminator


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Tokens reported by a backend for one call (or summed over many)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A model's request to run one tool; ``input`` is the raw JSON object."""

    id: str
    name: str
    input: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class UserMessage:
    content: str
    kind: Literal["user"] = "user"


@dataclass(frozen=True, slots=True, kw_only=True)
class AssistantMessage:
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = field(default_factory=tuple)
    kind: Literal["assistant"] = "assistant"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResultMessage:
    call_id: str
    tool: str
    content: str
    is_error: bool = False
    kind: Literal["tool-result"] = "tool-result"


Message = Annotated[UserMessage | AssistantMessage | ToolResultMessage, Discriminator("kind")]
