"""Turning a bash word into the argument(s) the program would receive.

bashlex finds the words and their substitutions; this module does what bash
does next: quote removal (including ``$'…'`` ANSI-C strings, which bashlex
mangles), tilde and parameter expansion with the values known so far, word
splitting of unquoted expansions (``rm${IFS}-rf${IFS}/``), and brace
expansion (``/{etc,usr}``). What cannot be known (``$RANDOM``, ``$(cmd)``)
stays unknown, with the literal prefix that came before it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: At most this many expansions of one word (for-loops × braces), so judging stays fast.
MAX_EXPANSIONS = 64
_SPLIT = "\x00"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|[0-9]+|[@*#?$!-]")
_BRACE = re.compile(r"\{([^{}]*,[^{}]*)\}")
_ANSI_SIMPLE = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
_ANSI_CODE = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|[0-7]{1,3}|c.)")


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument as the program would receive it.

    ``text`` is ``None`` when some part of it cannot be known; ``prefix`` is
    then the literal text before that part. ``glob`` says unquoted glob
    characters are present. ``origin`` marks a value that came out of a
    command substitution that fetched from the network (``"network"``) or
    decoded an encoded payload (``"decoded"``). ``content`` is what a
    ``<(…)`` file would contain, when that is known.
    """

    text: str | None
    prefix: str = ""
    glob: bool = False
    origin: str = ""
    content: str | None = None

    @property
    def known(self) -> bool:
        return self.text is not None


@dataclass(frozen=True, slots=True)
class Substituted:
    """What a ``$(…)``, backtick or ``<(…)`` produced: its output if known, and its origin."""

    output: str | None
    origin: str = ""


#: Evaluates a substitution node (walks its commands) and says what it produced.
SubstitutionFn = Callable[[Any], Substituted]


def decode_ansi_c(body: str) -> str:
    """The value of ``$'…'`` (without the quotes), as bash decodes it."""
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\" or i + 1 >= len(body):
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[nxt])
            i += 2
            continue
        match = _ANSI_CODE.match(body, i)
        if match is None:
            out.append(char)
            i += 1
            continue
        code = match.group(1)
        if code[0] in "xuU":
            out.append(chr(min(int(code[1:], 16), 0x10FFFF)))
        elif code[0] == "c":
            out.append(chr(ord(code[1]) & 0x1F))
        else:
            out.append(chr(int(code, 8) & 0xFF))
        i = match.end()
    return "".join(out)


def _ansi_end(raw: str, start: int) -> int:
    """Index just past the closing quote of ``$'…'`` starting at ``start``."""
    i = start + 2
    while i < len(raw):
        if raw[i] == "\\":
            i += 2
            continue
        if raw[i] == "'":
            return i + 1
        i += 1
    return len(raw)


def expand_braces(text: str) -> list[str]:
    """Brace alternatives (``a{b,c}`` → ``ab ac``), innermost first, bounded."""
    results = [text]
    for _ in range(8):
        expanded: list[str] = []
        changed = False
        for item in results:
            match = _BRACE.search(item)
            if match is None:
                expanded.append(item)
                continue
            changed = True
            head, tail = item[: match.start()], item[match.end() :]
            expanded.extend(head + choice + tail for choice in match.group(1).split(","))
        results = expanded[:MAX_EXPANSIONS]
        if not changed:
            break
    return results


def parameter_values(expr: str, variables: Mapping[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    """Possible values of ``${expr}``; ``None`` when they cannot be known."""
    match = _IDENT.match(expr)
    if match is None:
        return None
    name, operator = match.group(0), expr[match.end() :]
    values = variables.get(name)
    if operator == "" or operator.startswith((":?", "?")):
        return values
    if operator.startswith((":-", "-", ":=", "=")):
        default = operator[2:] if operator.startswith(":") else operator[1:]
        if values is not None and all(values):
            return values
        if values is None:
            return None
        return (default,)
    return None


class _Builder:
    """Accumulates the pieces of one word, then expands them into arguments."""

    def __init__(self) -> None:
        # each piece: (alternatives or None when unknown, split unquoted whitespace?)
        self.pieces: list[tuple[tuple[str, ...] | None, bool]] = []
        self.glob = False
        self.brace = False
        self.origin = ""
        self.content: str | None = None

    def literal(self, text: str) -> None:
        self.pieces.append(((text,), False))

    def expansion(self, values: tuple[str, ...] | None, *, quoted: bool) -> None:
        self.pieces.append((values, not quoted))
        if not quoted and values is not None and any(_has_glob(v) for v in values):
            self.glob = True

    def build(self) -> list[Arg]:
        prefix: list[str] = []
        for values, _ in self.pieces:
            if values is None:
                return [Arg(None, "".join(prefix), self.glob, self.origin, self.content)]
            if len(values) != 1:
                break
            prefix.append(values[0])
        options = [
            [
                v.replace(" ", _SPLIT).replace("\t", _SPLIT).replace("\n", _SPLIT) if split else v
                for v in values
            ]
            for values, split in self.pieces
            if values is not None
        ]
        args: list[Arg] = []
        for combo in itertools.islice(itertools.product(*options), MAX_EXPANSIONS):
            joined = "".join(combo)
            fields = [f for f in joined.split(_SPLIT) if f] if _SPLIT in joined else [joined]
            for field in fields:
                for text in expand_braces(field) if self.brace else [field]:
                    args.append(Arg(text, text, self.glob, self.origin))
        return args


def _has_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def evaluate_word(
    source: str,
    node: Any,
    variables: Mapping[str, tuple[str, ...]],
    substitute: SubstitutionFn,
) -> list[Arg]:
    """Expand one bashlex word node (``source`` is the whole parsed string)."""
    start, end = node.pos
    parts = sorted(getattr(node, "parts", ()) or (), key=lambda p: p.pos[0])
    by_start = {p.pos[0]: p for p in parts}
    builder = _Builder()
    text: list[str] = []
    single = double = False
    i = start

    def flush() -> None:
        if text:
            builder.literal("".join(text))
            text.clear()

    while i < end:
        char = source[i]
        if single:
            if char == "'":
                single = False
            else:
                text.append(char)
            i += 1
            continue
        if char == "$" and not double and source.startswith("$'", i):
            stop = min(_ansi_end(source, i), end)
            text.append(decode_ansi_c(source[i + 2 : stop - 1]))
            i = stop
            continue
        part = by_start.get(i)
        if part is not None and part.pos[1] <= end:
            flush()
            _expand_part(part, builder, variables, substitute, quoted=double)
            i = part.pos[1]
            continue
        if double:
            if char == '"':
                double = False
            elif char == "\\" and i + 1 < end and source[i + 1] in '$`"\\\n':
                text.append(source[i + 1])
                i += 1
            else:
                text.append(char)
        elif char == "'":
            single = True
        elif char == '"':
            double = True
        elif char == "$" and i + 1 < end and source[i + 1] == '"':
            pass  # $"…" is a translatable string: the $ disappears
        elif char == "\\":
            if i + 1 < end:
                text.append(source[i + 1])
                i += 1
        else:
            if char in "*?[":
                builder.glob = True
            elif char == "{":
                builder.brace = True
            text.append(char)
        i += 1
    flush()
    return builder.build()


def _expand_part(
    part: Any,
    builder: _Builder,
    variables: Mapping[str, tuple[str, ...]],
    substitute: SubstitutionFn,
    *,
    quoted: bool,
) -> None:
    kind = part.kind
    if kind == "tilde":
        user = part.value[1:]
        if not user:
            builder.literal((variables.get("HOME") or ("~",))[0])
        elif user in ("+", "-"):  # ~+ is $PWD, ~- is $OLDPWD
            values = variables.get("PWD" if user == "+" else "OLDPWD")
            builder.expansion(values, quoted=True)
        else:
            builder.literal("/root" if user == "root" else f"/home/{user}")
    elif kind == "parameter":
        value = getattr(part, "value", None)
        values = parameter_values(value, variables) if value else None
        builder.expansion(values, quoted=quoted)
    elif kind in ("commandsubstitution", "processsubstitution"):
        produced = substitute(part)
        if produced.origin and not builder.origin:
            builder.origin = produced.origin
        if kind == "processsubstitution":
            builder.content = produced.output
            builder.expansion(None, quoted=True)
        else:
            output = None if produced.output is None else produced.output.rstrip("\n")
            builder.expansion(None if output is None else (output,), quoted=quoted)
    else:
        builder.expansion(None, quoted=quoted)


def join_known(args: Sequence[Arg]) -> str | None:
    """The arguments joined by spaces (as ``eval`` does), or ``None`` if any is unknown."""
    if any(a.text is None for a in args):
        return None
    return " ".join(a.text for a in args if a.text is not None)
