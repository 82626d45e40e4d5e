"""What reaches a terminal: text with its control sequences shown, never obeyed.

Goals, answers, tool output and imported traces come from outside (a model, a
shared archive, a user's paste). Printed raw, an escape sequence in one of them
can retitle the window, hide text or fake a prompt. Every console the CLI
prints through is a :class:`TerminalConsole`, which passes every string through
:func:`visible` before rich parses it; rich's own styling is added afterwards,
from styles, so it is untouched.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.text import Text

#: C0 controls but tab and newline, DEL, C1 controls, bidirectional overrides
#: and isolates (they reorder what is shown), and lone surrogates (not text:
#: they cannot even be encoded for the terminal).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    r"""``text`` with each unsafe character written out as an escape (``\x1b``).

    A CRLF line end is a line end; a lone carriage return, which would let a
    line overwrite what came before it, is shown as ``\x0d``.

    Example:
        >>> visible("done\x1b]0;pwned\x07")
        'done\\x1b]0;pwned\\x07'
    """
    return _UNSAFE.sub(_shown, text.replace("\r\n", "\n"))


class TerminalConsole(Console):
    """A rich console that shows control sequences in any string it prints."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        """Make ``text`` safe first; markup, emoji and highlighting then apply as usual."""
        return super().render_str(visible(text), **kwargs)
