"""Text helpers shared by the tools: decoding, binary sniffing, output limits.

Every tool that prints something builds its result with :func:`text_result`,
so the model always sees at most ``model_output_chars`` with a note saying
what was cut, while the trace keeps the whole text up to
``trace_output_chars``.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmos.config import ToolsConfig
from llmos.tools.base import ToolResult

BINARY_SNIFF_BYTES = 8192


def looks_binary(sample: bytes) -> bool:
    """A NUL byte in the first block means binary, as git and grep decide."""
    return b"\x00" in sample[:BINARY_SNIFF_BYTES]


def decode_text(data: bytes) -> str:
    """Decode UTF-8, keeping each bad byte as a surrogate (``surrogateescape``): lossless.

    The tool escapes the text it builds from it once, whole
    (:func:`llmos.text.escape_surrogates`), and says so in a note.
    """
    return data.decode("utf-8", errors="surrogateescape")


def cut_middle(text: str, limit: int) -> str:
    """Keep the head and the tail of ``text`` within ``limit`` characters.

    The middle goes because the start of an output says what ran and the end
    usually says how it ended (the error, the summary line).
    """
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    note = (
        f"\n\n[... {cut:,} of {len(text):,} characters cut here; "
        "narrow the command, the path or the line range to see them ...]\n\n"
    )
    keep = max(limit - len(note), 0)
    head = keep * 2 // 3
    tail = keep - head
    return text[:head] + note + (text[len(text) - tail :] if tail else "")


def cap_trace(text: str, limit: int) -> str:
    """The text kept in the trace: the head, with a note when the rest was dropped."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit:,} more characters not kept ...]"


def text_result(
    text: str,
    settings: ToolsConfig,
    *,
    is_error: bool = False,
    exit_code: int | None = None,
    files_written: Mapping[str, str] | None = None,
    files_read: tuple[str, ...] = (),
    footer: str = "",
) -> ToolResult:
    """Build a result: ``content`` cut for the model, ``output`` kept for the trace.

    ``footer`` (notes such as "use offset=… to read on", with its leading
    separator) is appended after both cuts, so the model always sees it.
    """
    content_room = max(settings.model_output_chars - len(footer), 0)
    return ToolResult(
        content=cut_middle(text, content_room) + footer,
        is_error=is_error,
        output=cap_trace(text, settings.trace_output_chars) + footer,
        exit_code=exit_code,
        files_written=dict(files_written or {}),
        files_read=files_read,
    )


def number_lines(lines: list[str], first_number: int) -> str:
    """``cat -n`` layout: the line number right-aligned in six columns, a tab, the line."""
    return "\n".join(f"{number:>6}\t{line}" for number, line in enumerate(lines, first_number))
