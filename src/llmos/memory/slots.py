"""Slots: literal values of a goal that the steps use verbatim, and how to rebind them.

When a trace is saved, each literal of its goal (file name, path, number,
quoted string, URL, identifier, a name introduced by "named"/"called") that
occurs in a tool input becomes a typed slot. A new goal that has the same
words with other literal values binds the slots, and the steps are rewritten
with the new values wherever the old ones occurred.

Occurrences are found at token boundaries: ``10`` does not occur in ``100``
or ``10.5``, ``calc.py`` does not occur in ``mycalc.py`` or ``calc.py.bak``.
A value that is used in another form as well (the stem ``stack`` of
``stack.py`` in ``from stack import Stack``) is *entangled*: renaming the file
would leave the other form behind, so such a binding is not safe to follow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, get_args

from llmos.memory.normalize import Token, tokenize
from llmos.memory.trace import Postcondition, Slot, SlotType, Step

#: The token kinds a slot can have: the literal kinds of a goal.
_SLOT_TYPES: dict[str, SlotType] = {kind: kind for kind in get_args(SlotType)}

#: Extensions whose files hold code: a file stem used inside them is a module reference.
CODE_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".py",
        ".js",
        ".mjs",
        ".ts",
        ".sh",
        ".bash",
        ".rb",
        ".go",
        ".rs",
        ".java",
        ".c",
        ".h",
        ".cpp",
        ".hpp",
        ".php",
        ".pl",
        ".lua",
        ".toml",
        ".cfg",
        ".ini",
        ".json",
        ".yaml",
        ".yml",
    }
)
#: Input fields that a shell interprets: a value bound there must be a plain word.
SHELL_FIELDS: frozenset[str] = frozenset({"command"})
_SHELL_SAFE = re.compile(r"[\w.,/+:@%=~-]+")
_IDENTIFIER = re.compile(r"[^\W\d][\w\-]*")
_UNSAFE_TEXT = re.compile(r"['\"`\\\x00-\x1f\x7f]")

_LEFT = {
    "number": r"(?<![\w.])(?<!\d,)",
    "path": r"(?<![\w.\-])",
    "identifier": r"(?<![\w.\-])",
    "string": r"(?<!\w)",
    "url": r"(?<![\w/])",
}
_RIGHT = {
    "number": r"(?![\w])(?!\.\d)(?!,\d)",
    "path": r"(?![\w\-])(?!\.\w)",
    "identifier": r"(?![\w\-])",
    "string": r"(?!\w)",
    "url": r"(?![\w/.\-?#=&%])",
}


def occurrence_pattern(kind: str, value: str) -> str:
    """A regex for ``value`` standing as a whole token of its kind."""
    if value[:1].isalnum() or value[:1] == "_":
        left = _LEFT[kind]
    else:  # ".txt" stands alone in "*.txt" but not in "notes.txt"
        left = r"(?<![\w\-])" if value[:1] == "." else ""
    right = _RIGHT[kind] if (value[-1:].isalnum() or value[-1:] == "_") else ""
    return left + re.escape(value) + right


def iter_strings(value: Any, field_name: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside a JSON value, with the name of the field that holds it."""
    if isinstance(value, str):
        yield field_name, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_strings(item, str(key))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from iter_strings(item, field_name)


def map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """A copy of a JSON value with ``fn`` applied to every string (keys untouched)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, Mapping):
        return {key: map_strings(item, fn) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [map_strings(item, fn) for item in value]
    return value


def find_slots(goal: str, steps: Iterable[Step]) -> tuple[Slot, ...]:
    """The literals of ``goal`` that occur verbatim in the steps' inputs, as typed slots."""
    texts = [text for step in steps for _, text in iter_strings(step.input)]
    slots: list[Slot] = []
    seen: set[str] = set()
    counters: dict[str, int] = {}
    for token in tokenize(goal):
        kind = _SLOT_TYPES.get(token.kind)
        if kind is None or token.text in seen or not token.text:
            continue
        pattern = re.compile(occurrence_pattern(token.kind, token.text))
        if any(pattern.search(text) for text in texts):
            seen.add(token.text)
            counters[token.kind] = counters.get(token.kind, 0) + 1
            slots.append(Slot(name=f"{kind}{counters[kind]}", type=kind, value=token.text))
    return tuple(slots)


@dataclass(frozen=True, slots=True)
class BindResult:
    """New values for a trace's slots, or why the goal cannot bind them.

    ``bindings`` maps slot name → new value (only slots whose value changes).
    ``problem`` is None when the binding is safe to replay.
    """

    bindings: Mapping[str, str]
    problem: str | None = None


def bind(
    trace_tokens: list[Token],
    slots: tuple[Slot, ...],
    goal_tokens: list[Token],
    steps: tuple[Step, ...],
) -> BindResult | None:
    """Bind the slots from a goal of the same shape; None when the goals differ in words.

    Literals that are not slots must be equal; the same slot seen twice must get
    one value; every new value must be of the same form as the old one.
    """
    if len(trace_tokens) != len(goal_tokens):
        return None
    by_value = {slot.value: slot for slot in slots}
    chosen: dict[str, str] = {}
    for old, new in zip(trace_tokens, goal_tokens, strict=True):
        if old.kind != new.kind or (not old.is_literal and old.text != new.text):
            return None
        if not old.is_literal or (old.text == new.text and old.text not in by_value):
            continue
        slot = by_value.get(old.text)
        if slot is None:
            return None  # a fixed literal changed: another task
        if chosen.setdefault(slot.name, new.text) != new.text:
            return BindResult({}, f"slot {slot.name} ({slot.value!r}) gets two different values")
    bindings = {
        name: value
        for name, value in chosen.items()
        if value != next(s.value for s in slots if s.name == name)
    }
    for slot in slots:
        if slot.name in bindings:
            problem = check_value(slot, bindings[slot.name], steps)
            if problem:
                return BindResult(bindings, problem)
    return BindResult(bindings)


def _extension(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name[name.rfind(".") :].lower() if "." in name[1:] else ""


def _kind(path: str) -> str:
    """What sort of file a path names: its extension; for a name without one
    (``Makefile``, ``.gitignore``) the name itself, which is then its role.

    A bare short suffix (``.md``, ``.venv``: at most four characters after the
    dot) is a value in its own right, as in "rename the .md files to .txt".
    """
    if path.endswith("/"):
        return "/"
    name = path.rsplit("/", 1)[-1].lower()
    if _extension(name):
        return _extension(name)
    if name.startswith(".") and len(name) <= 5:
        return "."
    return name


def _stem(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    dot = name.find(".", 1)
    return name if dot < 0 else name[:dot]


def check_value(slot: Slot, new: str, steps: tuple[Step, ...]) -> str | None:
    """Why ``new`` cannot replace ``slot.value`` in these steps, or None if it can."""
    old = slot.value
    if slot.type == "path":
        if old.endswith("/") != new.endswith("/"):
            return f"{new!r} is not the same kind of path as {old!r} (folder vs file)"
        if _kind(old) != _kind(new):
            return f"{new!r} changes the file type of {old!r}: another task, not a new value"
        if new.startswith(("/", "~")) or ".." in new.split("/"):
            return f"{new!r} leaves the working directory"
        if _stem(old) != _stem(new) and _entangled(old, steps):
            return (
                f"{_stem(old)!r} (from {old!r}) is also used on its own in the steps; "
                "renaming only the file would leave that reference behind"
            )
    elif slot.type == "number":
        if ("." in old) != ("." in new) or ("," in old) != ("," in new):
            return f"{new!r} is not the same kind of number as {old!r}"
        uses = _occurrences(slot, steps)
        if len(old) == 1 and uses > 1:
            return (
                f"the digit {old} occurs {uses} times in the steps; "
                "which of them the goal's value controls is a guess"
            )
    elif slot.type == "identifier" and not _IDENTIFIER.fullmatch(new):
        return f"{new!r} is not a plain name"
    elif slot.type in ("string", "url") and _UNSAFE_TEXT.search(new):
        return f"{new!r} contains quotes, backslashes or control characters"
    if _in_shell_field(slot, steps) and not (
        _SHELL_SAFE.fullmatch(new) and (not new.startswith("-") or slot.type == "number")
    ):
        return f"{new!r} would be pasted into a shell command and is not a plain word"
    return None


def _occurrences(slot: Slot, steps: tuple[Step, ...]) -> int:
    pattern = re.compile(occurrence_pattern(slot.type, slot.value))
    return sum(len(pattern.findall(text)) for step in steps for _, text in iter_strings(step.input))


def _in_shell_field(slot: Slot, steps: tuple[Step, ...]) -> bool:
    pattern = re.compile(occurrence_pattern(slot.type, slot.value))
    return any(
        name in SHELL_FIELDS and pattern.search(text)
        for step in steps
        for name, text in iter_strings(step.input)
    )


def _entangled(path: str, steps: tuple[Step, ...]) -> bool:
    """Whether the stem of ``path`` is used on its own in a command or in code."""
    stem = _stem(path)
    if len(stem) < 2 or stem == path:
        return False
    other_form = re.compile(r"(?<![\w.\-/])" + re.escape(stem) + r"(?![\w\-/])(?!\.\w)")
    for step in steps:
        target = str(step.input.get("file_path", ""))
        code = _extension(target) in CODE_EXTENSIONS
        for name, text in iter_strings(step.input):
            if name == "file_path":
                continue
            if (name in SHELL_FIELDS or code) and other_form.search(text):
                return True
    return False


def rewriter(slots: tuple[Slot, ...], bindings: Mapping[str, str]) -> Callable[[str], str] | None:
    """A function replacing every bound slot's old value by its new value, in one pass
    (so a new value is never replaced again); None when nothing is bound."""
    changed = [slot for slot in slots if slot.name in bindings]
    if not changed:
        return None
    changed.sort(key=lambda slot: len(slot.value), reverse=True)
    pattern = re.compile(
        "|".join(
            f"(?P<s{i}>{occurrence_pattern(slot.type, slot.value)})"
            for i, slot in enumerate(changed)
        )
    )
    new_values = [bindings[slot.name] for slot in changed]

    def rewrite(text: str) -> str:
        return pattern.sub(lambda m: new_values[int(str(m.lastgroup)[1:])], text)

    return rewrite


def substitute(
    steps: tuple[Step, ...], slots: tuple[Slot, ...], bindings: Mapping[str, str]
) -> tuple[Step, ...]:
    """The steps with every bound slot's old value replaced by its new value.

    Every step then loses its output digest and file digests (empty digest:
    "not checked"): new values change what the steps produce and read.
    """
    rewrite = rewriter(slots, bindings)
    if rewrite is None:
        return steps
    result = []
    for step in steps:
        post = step.postcondition
        result.append(
            replace(
                step,
                input=map_strings(step.input, rewrite),
                postcondition=Postcondition(
                    is_error=post.is_error,
                    exit_code=post.exit_code,
                    output_digest=None,
                    deterministic=False,
                    files_written={rewrite(path): "" for path in post.files_written},
                    files_read=tuple(rewrite(path) for path in post.files_read),
                ),
            )
        )
    return tuple(result)
