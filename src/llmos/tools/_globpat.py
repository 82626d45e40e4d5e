"""Glob patterns as ripgrep and fast-glob read them: ``**``, ``*``, ``?``, ``[...]``, ``{a,b}``.

Python 3.11's ``fnmatch`` lets ``*`` cross ``/`` and knows no braces, and
``Path.glob`` follows symlinks out of the working directory, so the tools
compile patterns themselves and match them against relative posix paths.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=256)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """Compile ``pattern`` into a regex that must match a whole relative path."""
    return re.compile(_translate(pattern) + r"\Z", re.DOTALL)


def matches_glob(pattern: str, relative_path: str) -> bool:
    """Whether ``relative_path`` matches ``pattern``.

    A pattern without ``/`` matches the last path component anywhere in the
    tree (``*.py`` finds ``src/a.py``), as ripgrep's ``--glob`` does.
    """
    if "/" not in pattern:
        relative_path = relative_path.rsplit("/", 1)[-1]
    return compile_glob(pattern).match(relative_path) is not None


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if pattern.startswith("**", i):
            at_start = i == 0 or pattern[i - 1] == "/"
            j = i + 2
            if at_start and pattern.startswith("/", j):
                out.append("(?:.*/)?")  # "**/" : zero or more whole folders
                i = j + 1
                continue
            if at_start and j == n and out and out[-1] == "/":
                out[-1] = "(?:/.*)?"  # trailing "/**": the folder and all below
                i = j
                continue
            out.append(".*")
            i = j
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = _class_end(pattern, i)
            if end < 0:
                out.append(re.escape(char))
                i += 1
                continue
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            body = body.replace("\\", "\\\\")
            out.append(f"[{'^/' if negate else ''}{body}]")
            i = end + 1
        elif char == "{":
            end, alternatives = _split_braces(pattern, i)
            if end < 0:
                out.append(re.escape(char))
                i += 1
                continue
            out.append("(?:" + "|".join(_translate(alt) for alt in alternatives) + ")")
            i = end + 1
        elif char == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif char == "/":
            out.append("/")
            i += 1
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def _class_end(pattern: str, start: int) -> int:
    """Index of the ``]`` closing the class opened at ``start``, or -1."""
    j = start + 1
    if j < len(pattern) and pattern[j] in "!^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1  # a leading "]" is a literal member
    end = pattern.find("]", j)
    return end


def _split_braces(pattern: str, start: int) -> tuple[int, list[str]]:
    """Find the ``}`` matching ``start`` and split the top-level alternatives."""
    depth = 0
    alternatives: list[str] = []
    current = start + 1
    for j in range(start, len(pattern)):
        char = pattern[j]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                alternatives.append(pattern[current:j])
                return j, alternatives
        elif char == "," and depth == 1:
            alternatives.append(pattern[current:j])
            current = j + 1
    return -1, []
