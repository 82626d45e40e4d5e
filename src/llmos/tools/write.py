"""Write: create or overwrite a file, like Claude Code's Write tool."""

from __future__ import annotations

import hashlib
import stat

from pydantic import Field

from llmos.tools._confined import ConfinedFile
from llmos.tools._fs import ThreadedTool, os_error_message
from llmos.tools._schema import ToolInput
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
        "file prefer Edit, which sends only the change."
    )
    Input = WriteInput

    def run_blocking(self, args: WriteInput, ctx: ToolContext) -> ToolResult:
        data = encode_text(args.content)
        with ConfinedFile.locate(ctx, args.file_path, create_dirs=True, write=True) as target:
            existed = write_confined(target, data)
            name = target.relative
        verb = "updated" if existed else "created"
        return ToolResult(
            content=f"File {verb}: {name} ({len(args.content):,} characters).",
            files_written={name: hashlib.sha256(data).hexdigest()},
        )


def encode_text(content: str) -> bytes:
    try:
        return content.encode("utf-8")
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
