"""Text that is not Unicode: found once, at the edges, with one message.

A Python ``str`` can hold lone surrogates (``"\\ud800"`` from a JSON escape, or
``\\udcXX`` from bytes that were not UTF-8, decoded with ``surrogateescape`` as
Python does for command lines and file names). No UTF-8 file, SQLite row, JSON
answer or terminal can hold them, so a goal carrying one used to run, and then
break whatever stored or sent it. Every edge (the CLI, the HTTP API, the MCP
server) refuses such text up front with :func:`unicode_problem`'s message.

Text made inside a run cannot be refused: a file named with Latin-1 bytes
(``b"caf\\xe9.txt"``) comes back from ``os.listdir`` as ``"caf\\udce9.txt"``.
Tool results pass through :func:`escape_surrogates`, which writes each such
character as Python's ``backslashreplace`` does (``caf\\xe9.txt``), so the
name stays readable and distinct in events, traces and logs.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def unicode_problem(text: str, what: str = "the text") -> str | None:
    r"""Why ``text`` is not valid Unicode text, or None when it is.

    Example:
        >>> unicode_problem("Create caf\udce9.txt", "the goal")
        "the goal is not valid Unicode text: '\\udce9' at character 11 ..."
    """
    found = _SURROGATE.search(text)
    if found is None:
        return None
    code = ord(found.group())
    byte = (
        f" (the byte 0x{code - 0xDC00:02x}, not UTF-8: is the terminal set to UTF-8?)"
        if 0xDC80 <= code <= 0xDCFF
        else " (a lone surrogate)"
    )
    return (
        f"{what} is not valid Unicode text: '\\u{code:04x}' at character {found.start()}"
        f"{byte}; send it as UTF-8"
    )


def _escaped(found: re.Match[str]) -> str:
    code = ord(found.group())
    # U+DC80..U+DCFF stand for the undecodable bytes 0x80..0xFF (surrogateescape).
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def escape_surrogates(text: str) -> str:
    r"""``text`` with each lone surrogate written as a backslash escape; valid text is unchanged.

    A byte that was not UTF-8 (``\udce9`` from ``surrogateescape``) becomes
    ``\xe9``, as ``bytes.decode("utf-8", "backslashreplace")`` writes it; any
    other lone surrogate becomes ``\ud800``.

    Example:
        >>> escape_surrogates(os.fsdecode(b"caf\xe9.txt"))
        'caf\\xe9.txt'
    """
    return _SURROGATE.sub(_escaped, text)
