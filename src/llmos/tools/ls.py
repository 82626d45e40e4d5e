"""LS: show a folder as a tree, like Claude Code's LS tool."""

from __future__ import annotations

import os
from itertools import islice

from pydantic import Field

from llmos.tools._fs import SKIPPED_DIRS, ThreadedTool, WalkEntry, hidden_state, walk
from llmos.tools._globpat import matches_glob
from llmos.tools._schema import ToolInput
from llmos.tools._text import text_result
from llmos.tools.base import ToolContext, ToolError, ToolResult, relative_name, resolve_inside

MAX_ENTRIES = 1_000


class LSInput(ToolInput):
    path: str = Field(
        description="Folder to list, relative to the working directory or absolute (inside it); "
        "'.' is the working directory."
    )
    ignore: list[str] | None = Field(
        default=None,
        description="Glob patterns of entries to leave out (and not descend into), matched "
        "against the name, or against the relative path when the pattern has a '/'. "
        "Example: ['*.pyc', 'build'].",
    )


class LSTool(ThreadedTool):
    name = "LS"
    description = (
        "Lists a folder and its subfolders as an indented tree; folders end with '/', symlinks "
        "show their target. At most 1000 entries. The content of "
        + ", ".join(sorted(SKIPPED_DIRS))
        + " is not listed. Use Glob to find files by pattern."
    )
    Input = LSInput

    def run_blocking(self, args: LSInput, ctx: ToolContext) -> ToolResult:
        root = resolve_inside(ctx, args.path)
        if not root.exists():
            raise ToolError(f"Folder does not exist: {args.path!r}.")
        if not root.is_dir():
            raise ToolError(f"{args.path!r} is a file, not a folder; use Read to see it.")
        patterns = tuple(args.ignore or ())

        def ignored(relative: str) -> bool:
            return any(matches_glob(pattern, relative) for pattern in patterns)

        walked = walk(root, exclude=ignored, hidden=hidden_state(ctx))
        entries = list(islice(walked, MAX_ENTRIES + 1))
        lines = [relative_name(ctx, root) + "/"]
        lines += [_line(entry) for entry in entries[:MAX_ENTRIES]]
        if not entries:
            lines.append("  (empty folder)")
        if len(entries) > MAX_ENTRIES:
            lines.append(
                f"(Listing stopped at {MAX_ENTRIES:,} entries; list a subfolder or use Glob.)"
            )
        return text_result("\n".join(lines), ctx.settings)


def _line(entry: WalkEntry) -> str:
    depth = entry.relative.count("/") + 1
    name = entry.relative.rsplit("/", 1)[-1]
    if entry.is_symlink:
        try:
            name += " -> " + os.readlink(entry.path)
        except OSError:
            name += " -> ?"
    elif entry.is_dir:
        name += "/"
    return "  " * depth + "- " + name
