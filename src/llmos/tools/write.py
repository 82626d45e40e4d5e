"""Write: create or overwrite a file, like Claude Code's Write tool."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from llmos.files import write_atomic
from llmos.tools._fs import ThreadedTool, os_error_message
from llmos.tools._schema import ToolInput
from llmos.tools.base import (
    ToolContext,
    ToolError,
    ToolResult,
    relative_name,
    resolve_inside,
    sha256_file,
)


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
        path = resolve_inside(ctx, args.file_path)
        existed = path.exists()
        write_file(path, args.content, given=args.file_path)
        name = relative_name(ctx, path)
        verb = "updated" if existed else "created"
        return ToolResult(
            content=f"File {verb}: {name} ({len(args.content):,} characters).",
            files_written={name: sha256_file(path)},
        )


def write_file(path: Path, content: str, *, given: str) -> None:
    """Write ``content`` as UTF-8 at ``path`` (already confined), making its folders."""
    if path.is_dir():
        raise ToolError(f"{given!r} is a folder; give the path of a file inside it.")
    try:
        data = content.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ToolError(
            f"The content cannot be written as UTF-8 ({exc.reason} at character {exc.start})."
        ) from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Atomic: a concurrent reader (another task's replay check) never sees half a file.
        write_atomic(path, data, durable=False)
    except OSError as exc:
        raise ToolError(os_error_message("write", given, exc)) from exc
