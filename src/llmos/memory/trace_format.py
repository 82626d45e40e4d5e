"""A trace as a Markdown file: YAML front matter, then one section per step.

The file is for people (readable, diffable) and for the kernel (parsed back
exactly). Exactness comes from three rules:

* every front-matter scalar is written on one line (double-quoted with escapes
  when it holds line breaks, odd whitespace or control characters), so the
  closing ``---`` can never be part of a value;
* every block of content sits in a fence longer than the longest run of
  backticks inside it, so no content line can close it, and the block's text
  is exactly the lines between the fences;
* text that a raw block cannot carry exactly (carriage returns, control
  characters, lone surrogates) is written as a JSON string (fence info
  ``json-string``) instead of raw (``text``).

Everything outside fences that is not a heading or a block label is prose and
is ignored, so notes added by hand do not break parsing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos.errors import TraceFormatError
from llmos.memory.trace import (
    FORMAT_VERSION,
    SLOT_TYPES,
    TRACE_STATUSES,
    Postcondition,
    Seal,
    Slot,
    Step,
    Trace,
)
from llmos.messages import Usage
from llmos.outcome import FailureKind, parse_kind

if TYPE_CHECKING:
    import yaml  # imported when a trace is written or read: a replay reads the index

_KNOWN_KEYS = (
    "version",
    "id",
    "goal",
    "signature",
    "slots",
    "status",
    "mode",
    "backend",
    "model",
    "created",
    "cost_usd",
    "usage",
    "duration_s",
    "use_count",
    "replay_successes",
    "replay_failures",
    "saved_usd",
    "last_used",
    "parent",
    "environment",
    "injected",
    "outcome",
    "integrity",
)
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.:\-]+")
_STEP_HEADING = re.compile(r"## Step (\d+) · (\S+)")
_FENCE_OPEN = re.compile(r"(`{3,})([\w\-]*)")
_BACKTICKS = re.compile(r"`+")
_RAW_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_YAML_QUOTE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]|^\s|\s$")
_LABELS = {"Input:": "input", "Postcondition:": "postcondition", "Output:": "output"}
FINAL_HEADING = "## Final answer"


# ---------------------------------------------------------------- writing


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if _YAML_QUOTE.search(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


@functools.cache
def _dumper() -> type[yaml.CSafeDumper]:
    """Safe YAML with one-line scalars, so ``---`` can only be the front-matter marker.

    Built on first write: yaml is imported only when a trace is written or read.
    """
    import yaml

    class _Dumper(yaml.CSafeDumper):
        pass

    _Dumper.add_representer(str, _represent_str)
    return _Dumper


def _fence_for(content: str) -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(content)), default=0)
    return "`" * max(3, longest + 1)


def _block(content: str, info: str) -> str:
    fence = _fence_for(content)
    return f"{fence}{info}\n{content}\n{fence}\n"


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=2)
    # Lone surrogates cannot be encoded as UTF-8; inside JSON strings they can be escaped.
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _text_block(text: str) -> str:
    if _RAW_UNSAFE.search(text):
        return _block(_json(text), "json-string")
    return _block(text, "text")


def _front_matter(trace: Trace) -> dict[str, Any]:
    usage = trace.usage
    data: dict[str, Any] = {
        "version": trace.version,
        "id": trace.id,
        "goal": trace.goal,
        "signature": trace.signature,
        "slots": [{"name": s.name, "type": s.type, "value": s.value} for s in trace.slots],
        "status": trace.status,
        **_outcome_field(trace),
        "mode": trace.mode,
        "backend": trace.backend,
        "model": trace.model,
        "created": trace.created,
        "cost_usd": trace.cost_usd,
        "usage": {key: getattr(usage, key) for key in _USAGE_KEYS},
        "duration_s": trace.duration_s,
        "use_count": trace.use_count,
        "replay_successes": trace.replay_successes,
        "replay_failures": trace.replay_failures,
        "saved_usd": trace.saved_usd,
        "last_used": trace.last_used,
        "parent": trace.parent,
        "environment": dict(trace.environment),
        "injected": list(trace.injected),
    }
    data.update({key: value for key, value in trace.extra.items() if key not in data})
    if trace.integrity is not None:  # last, so the seal reads apart from what it covers
        data["integrity"] = {"digest": trace.integrity.digest, "hmac": trace.integrity.hmac}
    return data


def _outcome_field(trace: Trace) -> dict[str, Any]:
    """``outcome: {kind, message}``: why the run was judged so; absent when there is nothing."""
    if trace.failure is None and not trace.verdict:
        return {}
    return {
        "outcome": {
            "kind": trace.failure.value if trace.failure else None,
            "message": trace.verdict,
        }
    }


def render_trace(trace: Trace) -> str:
    """The Markdown text of a trace; :func:`parse_trace` gives the same trace back.

    Raises:
        TraceFormatError: a value cannot be written exactly (a tool name with
            spaces, a lone surrogate in a front-matter string).
    """
    import yaml

    try:
        front = yaml.dump(
            _front_matter(trace),
            Dumper=_dumper(),
            sort_keys=False,
            allow_unicode=True,
            width=2**31 - 1,
            default_flow_style=False,
        )
    except (yaml.YAMLError, UnicodeEncodeError) as exc:
        raise TraceFormatError(
            f"trace {trace.id}: the front matter cannot be written: {exc}"
        ) from exc
    heading = _RAW_UNSAFE.sub("\ufffd", " ".join(trace.goal.split())) or "(empty goal)"
    parts = ["---\n", front, "---\n\n", f"# {heading}\n"]
    for number, step in enumerate(trace.steps, 1):
        if not _TOOL_NAME.fullmatch(step.tool):
            raise TraceFormatError(
                f"trace {trace.id}: step {number} has the tool name {step.tool!r}; "
                "tool names may hold only letters, digits and _ . : -"
            )
        post = step.postcondition
        parts += [
            f"\n## Step {number} · {step.tool}\n\nInput:\n\n",
            _block(_json(dict(step.input)), "json"),
            "\nPostcondition:\n\n",
            _block(
                _json(
                    {
                        "is_error": post.is_error,
                        "exit_code": post.exit_code,
                        "output_digest": post.output_digest,
                        "deterministic": post.deterministic,
                        "files_written": dict(post.files_written),
                        "files_read": list(post.files_read),
                    }
                ),
                "json",
            ),
        ]
        if step.output:
            parts += ["\nOutput:\n\n", _text_block(step.output)]
    parts += [f"\n{FINAL_HEADING}\n\n", _text_block(trace.final_answer)]
    return "".join(parts)


# ---------------------------------------------------------------- reading


class _Fields:
    """Typed access to front-matter values, with errors that name the field."""

    def __init__(self, data: Mapping[str, Any], path: Path | None) -> None:
        self.data = data
        self.path = path

    def fail(self, message: str) -> TraceFormatError:
        return TraceFormatError(message, path=self.path)

    def get(
        self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False
    ) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                raise self.fail(f"the front matter has no {key!r}")
            return default
        value = self.data[key]
        if kind is str and isinstance(value, datetime | date):
            return value.isoformat()
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
            raise self.fail(f"front matter {key!r} should be {_kind_name(kind)}, got {value!r}")
        return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "text", int: "an integer", float: "a number", list: "a list", dict: "a mapping"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _split_front_matter(text: str, path: Path | None) -> tuple[str, str, int]:
    if not text.startswith("---\n"):
        raise TraceFormatError("does not start with a '---' front-matter line", path=path)
    end = text.find("\n---\n", 3)
    if end < 0:
        raise TraceFormatError("the front matter has no closing '---' line", path=path)
    front = text[4 : end + 1]
    return front, text[end + 5 :], front.count("\n") + 2


def _parse_slots(fields: _Fields) -> tuple[Slot, ...]:
    slots = []
    for item in fields.get("slots", list, []):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and item.get("type") in SLOT_TYPES
            and isinstance(item.get("value"), str)
        ):
            raise fields.fail(
                f"slot {item!r} needs a name, a type ({', '.join(SLOT_TYPES)}) and a text value"
            )
        slots.append(Slot(name=item["name"], type=item["type"], value=item["value"]))
    return tuple(slots)


def _parse_usage(fields: _Fields) -> Usage:
    raw = fields.get("usage", dict, {})
    counts = {}
    for key in _USAGE_KEYS:
        value = raw.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise fields.fail(f"usage.{key} should be a count of tokens, got {value!r}")
        counts[key] = value
    return Usage(**counts)


def _string_map(value: Any, what: str, fields: _Fields) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise fields.fail(f"{what} should map text to text, got {value!r}")
    return dict(value)


def _metadata(data: Mapping[str, Any], path: Path | None) -> dict[str, Any]:
    fields = _Fields(data, path)
    version = fields.get("version", int, required=True)
    if version > FORMAT_VERSION:
        raise fields.fail(
            f"format version {version} was written by a newer llmos "
            f"(this one reads up to {FORMAT_VERSION}); upgrade llmos"
        )
    status = fields.get("status", str, "success")
    if status not in TRACE_STATUSES:
        raise fields.fail(f"status {status!r} is not one of {', '.join(TRACE_STATUSES)}")
    injected = fields.get("injected", list, [])
    if not all(isinstance(item, str) for item in injected):
        raise fields.fail(f"injected should be a list of text, got {injected!r}")
    failure, verdict = _parse_outcome(fields)
    return {
        "version": version,
        "id": fields.get("id", str, required=True),
        "goal": fields.get("goal", str, required=True),
        "signature": fields.get("signature", str, ""),
        "slots": _parse_slots(fields),
        "status": status,
        "failure": failure,
        "verdict": verdict,
        "mode": fields.get("mode", str, ""),
        "backend": fields.get("backend", str, ""),
        "model": fields.get("model", str, ""),
        "created": fields.get("created", str, ""),
        "cost_usd": fields.get("cost_usd", float, 0.0),
        "usage": _parse_usage(fields),
        "duration_s": fields.get("duration_s", float, 0.0),
        "use_count": fields.get("use_count", int, 0),
        "replay_successes": fields.get("replay_successes", int, 0),
        "replay_failures": fields.get("replay_failures", int, 0),
        "saved_usd": fields.get("saved_usd", float, 0.0),
        "last_used": fields.get("last_used", str),
        "parent": fields.get("parent", str),
        "environment": _string_map(fields.get("environment", dict, {}), "environment", fields),
        "injected": tuple(injected),
        "extra": {key: value for key, value in data.items() if key not in _KNOWN_KEYS},
        "integrity": _parse_seal(fields),
    }


def _parse_outcome(fields: _Fields) -> tuple[FailureKind | None, str]:
    """The judged outcome's kind and message (traces written before it have none)."""
    raw = fields.get("outcome", dict, {})
    kind, message = raw.get("kind"), raw.get("message", "")
    if kind is not None and (not isinstance(kind, str) or parse_kind(kind) is None):
        raise fields.fail(
            f"outcome.kind {kind!r} is not one of {', '.join(k.value for k in FailureKind)}"
        )
    if not isinstance(message, str):
        raise fields.fail(f"outcome.message should be text, got {message!r}")
    return parse_kind(kind), message


def _parse_seal(fields: _Fields) -> Seal | None:
    raw = fields.data.get("integrity")
    if raw is None:
        return None
    if (
        not isinstance(raw, dict)
        or set(raw) != {"digest", "hmac"}
        or not all(isinstance(v, str) for v in raw.values())
    ):
        raise fields.fail(
            f"integrity should hold a 'digest' and an 'hmac' (text), got {raw!r}; "
            "delete the integrity block and review the trace with "
            "`llmos traces trust ID`"
        )
    return Seal(digest=raw["digest"], hmac=raw["hmac"])


class _BodyParser:
    """Reads the steps and the final answer from the Markdown body."""

    def __init__(self, body: str, first_line: int, path: Path | None) -> None:
        self.lines = body.split("\n")
        self.first_line = first_line
        self.path = path
        self.steps: list[dict[str, Any]] = []
        self.final: str | None = None
        self.in_final = False

    def fail(self, index: int, message: str) -> TraceFormatError:
        return TraceFormatError(f"line {self.first_line + index}: {message}", path=self.path)

    def parse(self) -> tuple[list[dict[str, Any]], str]:
        label: str | None = None
        index = 0
        while index < len(self.lines):
            line = self.lines[index]
            fence = _FENCE_OPEN.fullmatch(line)
            if fence:
                end = self._closing(index, fence.group(1))
                content = "\n".join(self.lines[index + 1 : end])
                self._store(index, label, fence.group(2), content)
                label, index = None, end + 1
                continue
            if line.startswith("## "):
                self._section(index, line)
                label = None
            elif line.rstrip() in _LABELS:
                label = _LABELS[line.rstrip()]
            index += 1
        if self.final is None:
            raise self.fail(
                len(self.lines) - 1,
                f"no '{FINAL_HEADING}' section: the file is truncated or hand-broken",
            )
        return self.steps, self.final

    def _closing(self, start: int, fence: str) -> int:
        for index in range(start + 1, len(self.lines)):
            if self.lines[index] == fence:
                return index
        raise self.fail(start, f"the block opened by {fence} is never closed (truncated file?)")

    def _section(self, index: int, line: str) -> None:
        if self.in_final:
            raise self.fail(index, f"{line!r} after the final answer")
        step = _STEP_HEADING.fullmatch(line)
        if step:
            if int(step.group(1)) != len(self.steps) + 1:
                raise self.fail(index, f"expected step {len(self.steps) + 1}, found {line!r}")
            self.steps.append({"tool": step.group(2), "line": index})
        elif line == FINAL_HEADING:
            self.in_final = True
        else:
            raise self.fail(index, f"unknown section {line!r}")

    def _store(self, index: int, label: str | None, info: str, content: str) -> None:
        if self.in_final:
            if self.final is not None:
                raise self.fail(index, "a second block in the final answer")
            self.final = self._text(index, info, content)
            return
        if not self.steps or label is None:
            raise self.fail(
                index,
                "a block outside a labelled step field "
                "(expected 'Input:', 'Postcondition:' or 'Output:' before it)",
            )
        step = self.steps[-1]
        if label in step:
            raise self.fail(index, f"step {len(self.steps)} has two {label} blocks")
        if label == "output":
            step[label] = self._text(index, info, content)
        else:
            step[label] = self._json_object(index, info, content, label)

    def _text(self, index: int, info: str, content: str) -> str:
        if info == "text":
            return content
        if info == "json-string":
            value = self._decode(index, content)
            if isinstance(value, str):
                return value
        raise self.fail(index, f"expected a text or json-string block, got {info!r}")

    def _json_object(self, index: int, info: str, content: str, label: str) -> dict[str, Any]:
        value = self._decode(index, content) if info == "json" else None
        if not isinstance(value, dict):
            raise self.fail(index, f"the {label} of step {len(self.steps)} should be a JSON object")
        return value

    def _decode(self, index: int, content: str) -> Any:
        try:
            return json.loads(content)
        except json.JSONDecodeError as exc:
            raise self.fail(index + 1 + exc.lineno - 1, f"invalid JSON: {exc.msg}") from exc


def _postcondition(raw: dict[str, Any], where: str, path: Path | None) -> Postcondition:
    def fail(what: str) -> TraceFormatError:
        return TraceFormatError(f"{where}: postcondition {what}", path=path)

    exit_code = raw.get("exit_code")
    if exit_code is not None and (not isinstance(exit_code, int) or isinstance(exit_code, bool)):
        raise fail(f"exit_code should be an integer or null, got {exit_code!r}")
    digest = raw.get("output_digest")
    if digest is not None and not isinstance(digest, str):
        raise fail(f"output_digest should be text or null, got {digest!r}")
    flags = {key: raw.get(key, False) for key in ("is_error", "deterministic")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise fail(f"{key} should be true or false, got {value!r}")
    written = raw.get("files_written", {})
    if not isinstance(written, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in written.items()
    ):
        raise fail(f"files_written should map paths to digests, got {written!r}")
    read = raw.get("files_read", [])
    if not isinstance(read, list) or not all(isinstance(item, str) for item in read):
        raise fail(f"files_read should be a list of paths, got {read!r}")
    return Postcondition(
        exit_code=exit_code,
        output_digest=digest,
        files_written=written,
        files_read=tuple(read),
        **flags,
    )


def parse_trace(text: str, path: Path | None = None) -> Trace:
    """Parse the Markdown text of a trace.

    Raises:
        TraceFormatError: with the path, the line where it applies, and what is wrong.
    """
    if "\x00" in text:
        raise TraceFormatError("contains NUL bytes: a binary file, not a trace", path=path)
    if "\r\n" in text and text.count("\r") == text.count("\r\n"):
        text = text.replace("\r\n", "\n")  # checked out with Windows line endings
    front, body, body_line = _split_front_matter(text, path)
    import yaml

    try:
        data = yaml.load(front, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise TraceFormatError(f"the front matter is not valid YAML: {exc}", path=path) from exc
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise TraceFormatError("the front matter should be a mapping of names to values", path=path)
    meta = _metadata(data, path)
    raw_steps, final = _BodyParser(body, body_line, path).parse()
    steps = []
    for number, raw in enumerate(raw_steps, 1):
        where = f"step {number}"
        if "input" not in raw or "postcondition" not in raw:
            missing = "input" if "input" not in raw else "postcondition"
            raise TraceFormatError(f"{where} ({raw['tool']}) has no {missing} block", path=path)
        steps.append(
            Step(
                tool=raw["tool"],
                input=raw["input"],
                postcondition=_postcondition(raw["postcondition"], where, path),
                output=raw.get("output", ""),
            )
        )
    return Trace(steps=tuple(steps), final_answer=final, **meta)


def read_trace(path: Path) -> Trace:
    """Read and parse one trace file; any problem is a :class:`TraceFormatError`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TraceFormatError(f"cannot be read: {exc.strerror}", path=path) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TraceFormatError(
            f"is not UTF-8 text (byte {exc.start}): a binary or damaged file", path=path
        ) from exc
    return parse_trace(text, path)
