"""Text that is not Unicode: found once, at the edges, with one message.

A Python ``str`` can hold lone surrogates (``"\\ud800"`` from a JSON escape, or
``\\udcXX`` from bytes that were not UTF-8, decoded with ``surrogateescape`` as
Python does for command lines and file names). No UTF-8 file, SQLite row, JSON
answer or terminal can hold them, so a goal carrying one used to run, and then
break whatever stored or sent it. Every edge (the CLI, the HTTP API, the MCP
server) refuses such text up front with :func:`unicode_problem`'s message.

Text made inside a run cannot be refused: a file named with Latin-1 bytes
(``b"caf\\xe9.txt"``) comes back from ``os.listdir`` as ``"caf\\udce9.txt"``,
and Bash and Read decode output and files that are not UTF-8 with
``surrogateescape`` too. Tool results pass through :func:`escape_surrogates`,
which writes each such character as a backslash escape (``caf\\xe9.txt``) and,
in that text only, doubles each backslash, so the text stays readable in
events, traces and logs and :func:`restore_surrogates` gives back the exact
original (the bytes: ``restore_surrogates(t).encode("utf-8", "surrogateescape")``).
Edit and Write take that form back, so a Latin-1 file round-tripped through
Read keeps its bytes.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
#: What :func:`escape_surrogates` writes: a doubled backslash, a byte, a lone surrogate.
_ESCAPE = re.compile(r"\\(?:(\\)|x([89a-f][0-9a-f])|u(d[89a-f][0-9a-f]{2}))")


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
    other lone surrogate becomes ``\ud800``. So that the escapes cannot be
    mistaken for text, each backslash already there is doubled (only in text
    that had a surrogate): :func:`restore_surrogates` undoes it exactly.

    Example:
        >>> escape_surrogates(os.fsdecode(b"C:\\caf\xe9.txt"))
        'C:\\\\caf\\xe9.txt'
    """
    if _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(_escaped, text.replace("\\", "\\\\"))


#: How a tool's note says its text was escaped (Bash's output, a file Read shows).
ESCAPED_NOTE = (
    "not valid UTF-8: each byte that is not is shown as \\xNN (\\xe9 for the byte 0xe9) "
    "and each backslash of the text is doubled"
)


def has_surrogates(text: str) -> bool:
    """Whether ``text`` (decoded with ``surrogateescape``) would be shown escaped."""
    return _SURROGATE.search(text) is not None


def _restored(found: re.Match[str]) -> str:
    backslash, byte, surrogate = found.groups()
    if backslash:
        return "\\"
    return chr(0xDC00 + int(byte, 16)) if byte else chr(int(surrogate, 16))


def restore_surrogates(text: str) -> str:
    r"""The text :func:`escape_surrogates` was given, from what it wrote.

    Only for text known to have been escaped (a tool's note says so): in other
    text a backslash is just a backslash.

    Example:
        >>> restore_surrogates("C:\\\\caf\\xe9.txt").encode("utf-8", "surrogateescape")
        b'C:\\caf\xe9.txt'
    """
    return _ESCAPE.sub(_restored, text)
