"""Write: create or overwrite a file, like Claude Code's Write tool."""

from __future__ import annotations

import hashlib
import stat

from pydantic import Field

from llmos.text import has_surrogates, restore_surrogates
from llmos.tools._confined import ConfinedFile
from llmos.tools._fs import ThreadedTool, os_error_message
from llmos.tools._schema import ToolInput
from llmos.tools._text import decode_text
from llmos.tools.base import ToolContext, ToolError, ToolResult


class WriteInput(ToolInput):
    file_path: str = Field(
        description="Path of the file to write, relative to the working directory or absolute "
        "(it must be inside the working directory). Missing folders are created."
    )
    content: str = Field(description="The whole new content of the file.")


class WriteTool(ThreadedTool):
    name = "Write"
    description = (
        "Writes a file with the given content (UTF-8), creating it and any missing parent "
        "folders, or overwriting it completely if it exists. To change part of an existing "
        "file prefer Edit, which sends only the change. Over a file that is not valid UTF-8 "
        "the content is taken as Read shows such a file (\\xNN for a byte, backslashes "
        "doubled), so its bytes are kept."
    )
    Input = WriteInput

    def run_blocking(self, args: WriteInput, ctx: ToolContext) -> ToolResult:
        with ConfinedFile.locate(ctx, args.file_path, create_dirs=True, write=True) as target:
            keep_bytes = _shown_escaped(target)
            content = restore_surrogates(args.content) if keep_bytes else args.content
            data = encode_text(content, keep_bytes=keep_bytes)
            existed = write_confined(target, data)
            name = target.relative
        verb = "updated" if existed else "created"
        return ToolResult(
            content=f"File {verb}: {name} ({len(args.content):,} characters).",
            files_written={name: hashlib.sha256(data).hexdigest()},
        )


def _shown_escaped(target: ConfinedFile) -> bool:
    """Whether ``target`` is a file that is not UTF-8, so the model saw it escaped in Read."""
    info = target.lstat()
    if info is None or not stat.S_ISREG(info.st_mode):
        return False
    try:
        return has_surrogates(decode_text(target.read_bytes()))
    except (OSError, ToolError):  # unreadable, or a hard link that may lead outside
        return False  # written as UTF-8 then; write_confined reports what is wrong


def encode_text(content: str, *, keep_bytes: bool = False) -> bytes:
    """UTF-8; with ``keep_bytes`` the surrogates that stand for bytes become those bytes."""
    try:
        return content.encode("utf-8", "surrogateescape" if keep_bytes else "strict")
    except UnicodeEncodeError as exc:
        raise ToolError(
            f"The content cannot be written as UTF-8 ({exc.reason} at character {exc.start})."
        ) from exc


def write_confined(target: ConfinedFile, data: bytes) -> bool:
    """Replace ``target`` with ``data`` atomically (a concurrent reader, such as another task's
    replay check, never sees half a file); True if a file was there before."""
    info = target.lstat()
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise ToolError(f"{target.given!r} is a folder; give the path of a file inside it.")
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise ToolError(os_error_message("write", target.given, exc)) from exc
    return info is not None
