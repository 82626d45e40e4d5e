"""Read: show a text file with numbered lines, like Claude Code's Read tool."""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from pydantic import Field

from llmos.text import ESCAPED_NOTE, escape_surrogates, has_surrogates
from llmos.tools._confined import ConfinedFile
from llmos.tools._fs import ThreadedTool, missing_file_message, os_error_message
from llmos.tools._schema import ToolInput
from llmos.tools._text import (
    BINARY_SNIFF_BYTES,
    decode_text,
    looks_binary,
    number_lines,
    text_result,
)
from llmos.tools.base import ToolContext, ToolError, ToolResult

MAX_LINE_CHARS = 2_000


class ReadInput(ToolInput):
    file_path: str = Field(
        description="Path of the file to read, relative to the working directory or absolute "
        "(it must be inside the working directory)."
    )
    offset: int | None = Field(
        default=None,
        ge=0,
        description="Line number to start reading from (1 = first line). Only give it when the "
        "file is too long to read at once.",
    )
    limit: int | None = Field(
        default=None,
        gt=0,
        description="Number of lines to read. Only give it when the file is too long to read "
        "at once.",
    )


class ReadTool(ThreadedTool):
    name = "Read"
    description = (
        "Reads a text file and returns its lines numbered like `cat -n` (number, tab, line). "
        "By default it reads up to 2000 lines from the start; use offset and limit for longer "
        "files. Lines longer than 2000 characters are cut. Folders cannot be read (use LS); "
        "binary files are refused. In a file that is not valid UTF-8 each bad byte is shown "
        "as \\xNN and each backslash is doubled (a note says so); Edit and Write take that "
        "form back to the file's bytes."
    )
    Input = ReadInput

    def run_blocking(self, args: ReadInput, ctx: ToolContext) -> ToolResult:
        with ConfinedFile.locate(ctx, args.file_path) as target:
            info = target.lstat()
            if info is not None and stat.S_ISDIR(info.st_mode):
                raise ToolError(
                    f"{args.file_path!r} is a folder, not a file. Use LS to list what it contains."
                )
            if info is None:
                raise ToolError(missing_file_message(ctx, target.path, args.file_path))
            try:
                fd = target.open_read()
            except OSError as exc:
                raise ToolError(os_error_message("read", args.file_path, exc)) from exc
            return self._read(fd, target.relative, args, ctx)

    def _read(self, fd: int, name: str, args: ReadInput, ctx: ToolContext) -> ToolResult:
        """Read the page asked for from ``fd`` (a no-follow descriptor; closed here)."""
        first = max(args.offset or 1, 1)
        limit = args.limit or ctx.settings.read_max_lines
        try:
            with os.fdopen(fd, "rb") as handle:
                if looks_binary(handle.read(BINARY_SNIFF_BYTES)):
                    size = os.fstat(handle.fileno()).st_size
                    raise ToolError(
                        f"{name!r} is a binary file ({size:,} bytes); Read shows text only. "
                        "Inspect it with Bash (for example `file` or `xxd | head`)."
                    )
                handle.seek(0)
                page = _read_page(handle, first, limit)
        except OSError as exc:
            raise ToolError(os_error_message("read", args.file_path, exc)) from exc
        body, notes = _render(page, name, first)
        return text_result(body, ctx.settings, files_read=(name,), footer=notes)


class _Page:
    """The lines of one Read call and what the reader noticed on the way."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.total_lines = 0
        self.bad_bytes = False
        self.cut_lines = 0


def _read_page(handle: BinaryIO, first: int, limit: int) -> _Page:
    page = _Page()
    for raw in handle:
        page.total_lines += 1
        if page.total_lines < first:
            continue
        line = decode_text(raw.rstrip(b"\n").removesuffix(b"\r"))
        page.bad_bytes = page.bad_bytes or has_surrogates(line)
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + f" [... line cut, {len(line):,} characters]"
            page.cut_lines += 1
        page.lines.append(line)
        if len(page.lines) >= limit:
            break
    page.total_lines += _count_rest(handle)
    return page


def _count_rest(handle: BinaryIO) -> int:
    """Count the lines left without holding them in memory."""
    count = 0
    last = b"\n"
    for block in iter(lambda: handle.read(1 << 20), b""):
        count += block.count(b"\n")
        last = block[-1:]
    return count + (last != b"\n")


def _render(page: _Page, name: str, first: int) -> tuple[str, str]:
    """The numbered lines, and the notes that must survive any cut."""
    if page.total_lines == 0:
        return f"(The file {name} exists but is empty.)", ""
    if not page.lines:
        return (
            f"(The file {name} has {page.total_lines:,} lines; offset {first:,} is past its end. "
            "Use a smaller offset.)"
        ), ""
    notes: list[str] = []
    last = first + len(page.lines) - 1
    if first > 1 or last < page.total_lines:
        notes.append(f"Showing lines {first:,}-{last:,} of {page.total_lines:,}.")
        if last < page.total_lines:
            notes.append(f"Use offset={last + 1} to read on.")
    if page.cut_lines:
        notes.append(f"{page.cut_lines:,} long line(s) were cut at {MAX_LINE_CHARS:,} characters.")
    body = number_lines(page.lines, first)
    if page.bad_bytes:  # escaped whole, so that its backslashes are doubled throughout
        body = escape_surrogates(body)
        notes.append(f"The file is {ESCAPED_NOTE}; Edit and Write take this form back.")
    return body, ("\n\n(" + " ".join(notes) + ")" if notes else "")
