"""Assembling streamed tool calls, and repairing the JSON some servers get wrong.

Both wire formats stream a tool call as fragments keyed by an index: an
opening fragment with the id and name, then pieces of the JSON arguments.
:class:`ToolCallAssembler` is the one place those fragments become complete
:class:`~llmos.messages.ToolCall`s.

Local servers (small models behind llama.cpp, Ollama, vLLM) sometimes emit
arguments that are not valid JSON: cut off, followed by chatter, wrapped in a
code fence, or with a trailing comma. One repair attempt fixes those; when it
fails, the call still reaches the loop, with an input that holds only
:data:`INVALID_JSON_KEY`, so the loop can show the model a clear error
(:func:`invalid_arguments_message`) instead of running the tool.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmos.messages import ToolCall

#: The only key of a tool call's input when its arguments could not be parsed;
#: the value is the raw text the server sent.
INVALID_JSON_KEY = "__invalid_json__"

_CLOSERS = {"{": "}", "[": "]"}


def _strip_code_fence(text: str) -> str:
    if not text.startswith("```"):
        return text
    lines = text.splitlines()[1:]
    if lines and lines[-1].strip().startswith("```"):
        lines = lines[:-1]
    return "\n".join(lines).strip()


def _close_truncated(text: str) -> str:
    """Drop trailing commas and close an unterminated string and open brackets."""
    out: list[str] = []
    stack: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in _CLOSERS:
            stack.append(_CLOSERS[char])
        elif char in "}]":
            if not stack or stack[-1] != char:
                break  # an unmatched closer: everything from here on is garbage
            stack.pop()
            _drop_trailing_comma(out)
        out.append(char)
        if not stack:
            break  # the outermost object is complete; ignore what follows
    if in_string:
        if escaped:
            out.pop()
        out.append('"')
    repaired = "".join(out).rstrip()
    if repaired.endswith(":"):
        repaired += " null"
    repaired = repaired.rstrip(",")
    return repaired + "".join(reversed(stack))


def _drop_trailing_comma(out: list[str]) -> None:
    index = len(out) - 1
    while index >= 0 and out[index].isspace():
        index -= 1
    if index >= 0 and out[index] == ",":
        del out[index]


def parse_arguments(raw: str) -> dict[str, Any] | None:
    """Parse tool-call arguments as a JSON object, with one repair attempt.

    Returns None when the text cannot be made into a JSON object.
    """
    text = raw.strip()
    if not text:
        return {}  # a tool called without arguments
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = _repair(text)
    return value if isinstance(value, dict) else None


def _repair(text: str) -> Any:
    text = _strip_code_fence(text)
    start = text.find("{")
    if start < 0:
        return None
    candidate = _close_truncated(text[start:])
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        return None


def invalid_arguments_message(call: ToolCall) -> str | None:
    """The error the model should see for a call whose arguments did not parse, else None.

    Example:
        if (problem := invalid_arguments_message(call)) is not None:
            result = ToolResult.error(problem)   # do not run the tool
    """
    if set(call.input) != {INVALID_JSON_KEY}:
        return None
    raw = str(call.input[INVALID_JSON_KEY])
    shown = raw if len(raw) <= 500 else raw[:500] + "…"
    return (
        f"the arguments of your {call.name} call are not a valid JSON object, so the tool "
        f"did not run. You sent: {shown}\n"
        f"Call {call.name} again with its arguments as one JSON object that matches its schema."
    )


@dataclass(slots=True)
class _PartialCall:
    id: str = ""
    name: str = ""
    pieces: list[str] = field(default_factory=list)
    initial_input: Mapping[str, Any] | None = None


class ToolCallAssembler:
    """Collects streamed tool-call fragments, keyed by their index, into whole calls.

    Example:
        calls = ToolCallAssembler()
        calls.add(0, call_id="call_1", name="Read")
        calls.add(0, arguments='{"file_path": "a')
        calls.add(0, arguments='.txt"}')
        calls.finish()  # [ToolCall(id="call_1", name="Read", input={"file_path": "a.txt"})]
    """

    def __init__(self) -> None:
        self._calls: dict[int, _PartialCall] = {}

    def add(
        self,
        index: int,
        *,
        call_id: str | None = None,
        name: str | None = None,
        arguments: str | None = None,
        initial_input: Mapping[str, Any] | None = None,
    ) -> None:
        """Add one fragment; the first id and name seen for an index are kept."""
        call = self._calls.setdefault(index, _PartialCall())
        if call_id and not call.id:
            call.id = call_id
        if name and not call.name:
            call.name = name
        if arguments:
            call.pieces.append(arguments)
        if initial_input:
            call.initial_input = initial_input

    def __bool__(self) -> bool:
        return bool(self._calls)

    def finish(self) -> list[ToolCall]:
        """The complete calls in index order; unparseable arguments are marked invalid."""
        calls = []
        for index in sorted(self._calls):
            partial = self._calls[index]
            raw = "".join(partial.pieces)
            if not raw and partial.initial_input:
                arguments: Mapping[str, Any] | None = dict(partial.initial_input)
            else:
                arguments = parse_arguments(raw)
            calls.append(
                ToolCall(
                    id=partial.id or f"call_{index}_{uuid.uuid4().hex[:12]}",
                    name=partial.name,
                    input=arguments if arguments is not None else {INVALID_JSON_KEY: raw},
                )
            )
        self._calls.clear()
        return calls
