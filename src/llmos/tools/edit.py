"""Edit: replace an exact string in a file, like Claude Code's Edit tool."""

from __future__ import annotations

import hashlib
import stat

from pydantic import Field

from llmos.text import has_surrogates, restore_surrogates
from llmos.tools._confined import ConfinedFile
from llmos.tools._fs import ThreadedTool, missing_file_message, os_error_message
from llmos.tools._schema import ToolInput
from llmos.tools._text import decode_text, looks_binary, number_lines
from llmos.tools.base import ToolContext, ToolError, ToolResult
from llmos.tools.write import encode_text, write_confined

SNIPPET_CONTEXT_LINES = 3


class EditInput(ToolInput):
    file_path: str = Field(
        description="Path of the file to change, relative to the working directory or absolute "
        "(it must be inside the working directory)."
    )
    old_string: str = Field(
        description="The exact text to replace, including whitespace and indentation. It must "
        "occur exactly once unless replace_all is true; add surrounding lines to make it "
        "unique. An empty old_string creates a file that does not exist yet."
    )
    new_string: str = Field(description="The text to put in its place (must differ from it).")
    replace_all: bool = Field(
        default=False, description="Replace every occurrence of old_string instead of one."
    )


class EditTool(ThreadedTool):
    name = "Edit"
    description = (
        "Replaces old_string with new_string in a text file. old_string must match the file "
        "exactly (Read the file first to copy it) and occur once, unless replace_all is true. "
        "In a file that is not valid UTF-8 both strings are taken as Read shows it (\\xNN for "
        "a byte, backslashes doubled), so its bytes are kept. Returns the edited lines with "
        "their numbers."
    )
    Input = EditInput

    def run_blocking(self, args: EditInput, ctx: ToolContext) -> ToolResult:
        if args.old_string == args.new_string:
            raise ToolError("old_string and new_string are identical; the edit changes nothing.")
        creating = not args.old_string
        with ConfinedFile.locate(ctx, args.file_path, create_dirs=creating, write=True) as target:
            return self._edit(target, args, ctx)

    def _edit(self, target: ConfinedFile, args: EditInput, ctx: ToolContext) -> ToolResult:
        info = target.lstat()
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise ToolError(f"{args.file_path!r} is a folder, not a file.")
        if info is None:
            if args.old_string:
                raise ToolError(missing_file_message(ctx, target.path, args.file_path))
            text = ""
        else:
            text = _read_text(target, args.file_path)
        old, new = args.old_string, args.new_string
        keep_bytes = has_surrogates(text)
        if keep_bytes:  # the model saw the file escaped (Read): match and write its bytes
            old, new = restore_surrogates(old), restore_surrogates(new)
        if not old and text:
            raise ToolError(
                f"old_string is empty but {args.file_path!r} is not: give the text to replace, "
                "or use Write to replace the whole file."
            )
        count = text.count(old) if old else 1
        if count == 0 and "\r\n" in text:  # the model wrote "\n" for a CRLF file
            old, new = _crlf(old), _crlf(new)
            count = text.count(old)
        name = target.relative
        if count == 0:
            raise ToolError(
                f"old_string was not found in {name}. It must match the file exactly, including "
                "whitespace and indentation; Read the file and copy the text."
            )
        if count > 1 and not args.replace_all:
            raise ToolError(
                f"old_string occurs {count} times in {name}. Add surrounding lines to make it "
                "unique, or set replace_all to true to replace all of them."
            )
        start = text.find(old)
        if args.replace_all and old:
            updated = text.replace(old, new)
        else:
            updated = text[:start] + new + text[start + len(old) :]
        data = encode_text(updated, keep_bytes=keep_bytes)
        write_confined(target, data)
        replaced = count if args.replace_all else 1
        return ToolResult(
            content=(
                f"The file {name} has been updated ({replaced} replacement"
                f"{'s' if replaced > 1 else ''}). The edited part:\n"
                + _snippet(updated, start, new)
            ),
            files_written={name: hashlib.sha256(data).hexdigest()},
        )


def _read_text(target: ConfinedFile, given: str) -> str:
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise ToolError(os_error_message("read", given, exc)) from exc
    if looks_binary(data):
        raise ToolError(f"{given!r} is a binary file; Edit changes text files only.")
    return decode_text(data)


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _snippet(text: str, start: int, new: str) -> str:
    """The lines around the first replacement, numbered like Read shows them."""
    lines = text.splitlines()
    first_line = text.count("\n", 0, start)
    last_line = first_line + new.count("\n")
    low = max(first_line - SNIPPET_CONTEXT_LINES, 0)
    high = min(last_line + SNIPPET_CONTEXT_LINES + 1, len(lines))
    return number_lines(lines[low:high], low + 1)
