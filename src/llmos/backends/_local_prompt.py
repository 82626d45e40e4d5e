"""The embedded model's side of the conversation: prompt, output schema and parsing.

A tiny model cannot be trusted to follow a tool-calling chat template, so the
local backend asks it for one JSON object per turn and constrains decoding to
a JSON schema: ``{"tool": NAME, "input": {...}}`` or ``{"answer": TEXT}``.
This module builds that schema from the offered :class:`ToolSpec`\\ s (reduced
to what the grammar engine handles), renders the conversation compactly, and
turns the constrained output back into a tool call or an answer, streaming the
answer's text while it is still being generated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmos.backends.base import BackendRequest
from llmos.messages import AssistantMessage, ToolResultMessage, UserMessage
from llmos.tools.base import ToolSpec

#: Schema keywords the grammar engine turns into constraints; every other
#: keyword (``pattern``, ``format``, ``not``, ``if`` …) is dropped, and the
#: tool validates its input anyway when it runs.
_KEPT_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "const",
        "anyOf",
        "allOf",
        "additionalProperties",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "$ref",
    }
)
_DESCRIPTION_CHARS = 90
_ANSWER_OPENING = re.compile(r'\s*\{\s*"answer"\s*:\s*"')

ChatMessage = dict[str, str]


# ---------------------------------------------------------------- the schema


def turn_schema(tools: Sequence[ToolSpec], *, strict_inputs: bool = True) -> dict[str, Any]:
    """The JSON schema of one turn: a call of one offered tool, or an answer.

    With ``strict_inputs=False`` every tool input is only required to be an
    object: the fallback when the engine rejects a tool's own schema.
    """
    definitions: dict[str, Any] = {}
    choices: list[dict[str, Any]] = []
    for spec in tools:
        if strict_inputs:
            input_schema = _hoist_definitions(spec.name, spec.input_schema, definitions)
        else:
            input_schema = {"type": "object"}
        choices.append(
            {
                "type": "object",
                "properties": {"tool": {"const": spec.name}, "input": input_schema},
                "required": ["tool", "input"],
                "additionalProperties": False,
            }
        )
    choices.append(answer_schema())
    schema: dict[str, Any] = {"anyOf": choices}
    if definitions:
        schema["$defs"] = definitions
    return schema


def answer_schema() -> dict[str, Any]:
    """The schema of a final answer alone (used when a tool call must be refused)."""
    return {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }


def _hoist_definitions(
    tool: str, schema: Mapping[str, Any], definitions: dict[str, Any]
) -> dict[str, Any]:
    """Simplify a tool's schema and move its ``$defs`` to the root under unique names.

    Pydantic puts nested models in ``$defs`` with ``#/$defs/X`` references that
    resolve against the document root, which here is the turn schema.
    """
    for name, definition in schema.get("$defs", {}).items():
        definitions[f"{tool}.{name}"] = simplify_schema(definition, ref_prefix=f"{tool}.")
    return simplify_schema(schema, ref_prefix=f"{tool}.")


def simplify_schema(node: Any, *, ref_prefix: str = "") -> Any:
    """Keep the keywords the grammar engine enforces; turn ``oneOf`` into ``anyOf``.

    A ``$ref`` outside ``#/$defs/`` becomes an unconstrained value.
    """
    if isinstance(node, list):
        return [simplify_schema(item, ref_prefix=ref_prefix) for item in node]
    if not isinstance(node, Mapping):
        return node
    simplified: dict[str, Any] = {}
    for key, value in node.items():
        key = "anyOf" if key == "oneOf" else key
        if key not in _KEPT_KEYWORDS:
            continue
        if key == "$ref":
            if not (isinstance(value, str) and value.startswith("#/$defs/")):
                return {}
            simplified[key] = f"#/$defs/{ref_prefix}{value.removeprefix('#/$defs/')}"
        elif key == "properties":
            simplified[key] = {
                name: simplify_schema(sub, ref_prefix=ref_prefix) for name, sub in value.items()
            }
        elif key in ("items", "anyOf", "allOf", "additionalProperties"):
            simplified[key] = simplify_schema(value, ref_prefix=ref_prefix)
        else:
            simplified[key] = value
    return simplified


# ---------------------------------------------------------------- the prompt


def build_messages(request: BackendRequest, *, tool_result_chars: int) -> list[ChatMessage]:
    """The chat messages for the model: a compact system prompt, then the conversation.

    Tool results become user messages (small models' chat templates know only
    system, user and assistant) and consecutive user messages are merged.
    """
    system = request.system.strip()
    if request.tools:
        system = f"{system}\n\n{_tool_instructions(request.tools)}".strip()
    messages: list[ChatMessage] = [{"role": "system", "content": system}] if system else []
    for message in request.messages:
        if isinstance(message, UserMessage):
            _append(messages, "user", message.content)
        elif isinstance(message, ToolResultMessage):
            outcome = "Error from" if message.is_error else "Result of"
            body = _clip(message.content, tool_result_chars)
            _append(messages, "user", f"{outcome} {message.tool}:\n{body}")
        elif isinstance(message, AssistantMessage):
            _append(messages, "assistant", _render_assistant(message))
    return messages


def _tool_instructions(tools: Sequence[ToolSpec]) -> str:
    lines = ["Tools:"]
    for spec in tools:
        lines.append(f"- {spec.name}({_argument_list(spec.input_schema)}): {_summary(spec)}")
    lines.append(
        "Reply with one JSON object only. To use a tool: "
        '{"tool": "<name>", "input": {<arguments>}}. '
        'When the task is done: {"answer": "<short reply>"}.'
    )
    return "\n".join(lines)


def _argument_list(schema: Mapping[str, Any]) -> str:
    required = set(schema.get("required", ()))
    return ", ".join(
        name if name in required else f"{name}?" for name in schema.get("properties", {})
    )


def _summary(spec: ToolSpec) -> str:
    first_line = spec.description.strip().split("\n", 1)[0]
    sentence = first_line.split(". ", 1)[0].rstrip(".")
    return sentence if len(sentence) <= _DESCRIPTION_CHARS else sentence[:_DESCRIPTION_CHARS] + "…"


def _render_assistant(message: AssistantMessage) -> str:
    """Past turns in the same JSON shape the model is asked to produce."""
    if message.tool_calls:
        return "\n".join(
            json.dumps({"tool": call.name, "input": dict(call.input)}, ensure_ascii=False)
            for call in message.tool_calls
        )
    return json.dumps({"answer": message.text}, ensure_ascii=False)


def _append(messages: list[ChatMessage], role: str, content: str) -> None:
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"] += "\n\n" + content
    else:
        messages.append({"role": role, "content": content})


def _clip(text: str, limit: int) -> str:
    """Keep the head and the tail of a long tool result, where the facts usually are."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[… {len(text) - 2 * half} characters left out …]\n{text[-half:]}"


# ---------------------------------------------------------------- the output


@dataclass(frozen=True, slots=True)
class ParsedCall:
    name: str
    input: dict[str, Any]


def parse_turn(text: str) -> ParsedCall | str | None:
    """A complete turn as a tool call or an answer; None when it does not parse.

    Constrained decoding makes every complete output parse; None means the
    output was cut (by ``max_tokens`` or the context window).
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("tool"), str) and isinstance(value.get("input"), dict):
        return ParsedCall(name=value["tool"], input=value["input"])
    if isinstance(value.get("answer"), str):
        return value["answer"]
    return None


class AnswerStream:
    """Decodes the ``answer`` string of a turn while its JSON is still arriving.

    Feed raw chunks; each call returns the answer text that became certain.
    A turn that turns out to be a tool call yields nothing.
    """

    def __init__(self) -> None:
        self._raw = ""
        self._start: int | None = None  # index of the answer string's first character
        self._done = False
        self._decoded_upto = 0

    def feed(self, chunk: str) -> str:
        self._raw += chunk
        if self._done:
            return ""
        if self._start is None:
            opening = _ANSWER_OPENING.match(self._raw)
            if opening is None:
                return ""
            self._start = self._decoded_upto = opening.end()
        return self._decode_available()

    def _decode_available(self) -> str:
        end = self._safe_end()
        piece = self._raw[self._decoded_upto : end]
        self._decoded_upto = end
        return json.loads(f'"{piece}"') if piece else ""

    def _safe_end(self) -> int:
        """The end of the longest prefix holding only complete characters and escapes."""
        index = self._decoded_upto
        raw = self._raw
        while index < len(raw):
            char = raw[index]
            if char == '"':
                self._done = True
                return index
            if char != "\\":
                index += 1
                continue
            width = 6 if raw[index + 1 : index + 2] == "u" else 2
            if index + width > len(raw):
                break
            if width == 6 and 0xD800 <= int(raw[index + 2 : index + 6], 16) < 0xDC00:
                width = 12  # a surrogate pair decodes only as a whole
                if index + width > len(raw):
                    break
            index += width
        return index
