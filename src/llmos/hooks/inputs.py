"""What a hook is given: one frozen input type per hook event, each with only its fields.

A hook registered for ``PreToolUse`` takes a :class:`PreToolUseInput` and can
read ``data.tool`` without checking for None; a ``PostLLMCall`` hook reads
``data.usage``. Every input carries the task (``ctx``) and its ``event``
name, so a hook that reads only those works for any event. ``HookInput`` is
the union of them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

from llmos.events import TASK_MODES, TaskMode, is_task_mode
from llmos.messages import Usage

if TYPE_CHECKING:  # both import the plugin loader, which imports the hook types
    from llmos.backends.base import BackendRequest, PromptCount
    from llmos.tools.base import ToolResult

HookEventName = Literal[
    "PreToolUse",
    "PostToolUse",
    "UserPromptSubmit",
    "PreLLMCall",
    "PostLLMCall",
    "Stop",
    "TaskStart",
    "TaskEnd",
]
HOOK_EVENTS: tuple[HookEventName, ...] = get_args(HookEventName)


@dataclass(frozen=True, slots=True, kw_only=True)
class HookContext:
    """The task a hook is called for."""

    task_id: str
    goal: str
    cwd: Path
    workspace: Path
    #: The mode asked for until the dispatcher chooses (``auto`` at ``TaskStart``), then
    #: the one chosen; ``guided`` and ``healed`` are Learner runs led by a trace.
    mode: TaskMode = "auto"
    replay: bool = False

    def __post_init__(self) -> None:
        if not is_task_mode(self.mode):
            raise ValueError(f"unknown mode {self.mode!r}; one of {', '.join(TASK_MODES)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PreToolUseInput:
    """A tool call about to run; ``tool_input`` is after the earlier hooks' rewrites."""

    ctx: HookContext
    tool: str
    tool_input: Mapping[str, Any]
    event: Literal["PreToolUse"] = "PreToolUse"


@dataclass(frozen=True, slots=True, kw_only=True)
class PostToolUseInput:
    """A tool call that ran, with what it returned."""

    ctx: HookContext
    tool: str
    tool_input: Mapping[str, Any]
    tool_result: ToolResult
    event: Literal["PostToolUse"] = "PostToolUse"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserPromptSubmitInput:
    """The goal as it goes to the model; hooks may add context to it."""

    ctx: HookContext
    prompt: str
    event: Literal["UserPromptSubmit"] = "UserPromptSubmit"


@dataclass(frozen=True, slots=True, kw_only=True)
class PreLLMCallInput:
    """A model call about to be made; hooks may deny it or cap its output."""

    ctx: HookContext
    request: BackendRequest
    model: str
    #: Counts the prompt with the backend (its provider's counting endpoint, if any),
    #: once, when a hook asks; None outside a backend's loop.
    prompt_count: PromptCount | None = None
    estimated_cost_usd: float | None = None
    event: Literal["PreLLMCall"] = "PreLLMCall"


@dataclass(frozen=True, slots=True, kw_only=True)
class PostLLMCallInput:
    """A model call that returned: what it used and cost."""

    ctx: HookContext
    usage: Usage
    cost_usd: float
    model: str
    event: Literal["PostLLMCall"] = "PostLLMCall"


@dataclass(frozen=True, slots=True, kw_only=True)
class StopInput:
    """The agent loop ended: its final text and whether the run was judged a success."""

    ctx: HookContext
    text: str
    success: bool
    event: Literal["Stop"] = "Stop"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStartInput:
    """A task began (before any mode is chosen)."""

    ctx: HookContext
    event: Literal["TaskStart"] = "TaskStart"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskEndInput:
    """A task ended: its answer and whether it succeeded."""

    ctx: HookContext
    text: str
    success: bool
    event: Literal["TaskEnd"] = "TaskEnd"


HookInput = (
    PreToolUseInput
    | PostToolUseInput
    | UserPromptSubmitInput
    | PreLLMCallInput
    | PostLLMCallInput
    | StopInput
    | TaskStartInput
    | TaskEndInput
)
#: A hook's input type, for code generic over the event (``Hook[InputT]``, ``HookFn[InputT]``).
InputT = TypeVar("InputT", bound=HookInput)
#: The inputs of observer events (:meth:`HookPipeline.notify`): their hooks' answers are ignored.
ObservedInput = PostToolUseInput | PostLLMCallInput | StopInput | TaskStartInput | TaskEndInput
