"""Glob: find files by name pattern, newest first, like Claude Code's Glob tool."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from pydantic import Field

from llmos.tools._fs import SKIPPED_DIRS, ThreadedTool, hidden_state, walk
from llmos.tools._globpat import compile_glob
from llmos.tools._schema import ToolInput
from llmos.tools._text import text_result
from llmos.tools.base import ToolContext, ToolError, ToolResult, relative_name, resolve_inside

MAX_RESULTS = 100
MAX_WALKED_ENTRIES = 200_000


class GlobInput(ToolInput):
    pattern: str = Field(
        description="Glob pattern matched against file paths relative to `path`: `*` and `?` "
        "stay within one folder, `**` crosses folders, `{a,b}` gives alternatives. Examples: "
        "'**/*.py', 'src/**/*.{ts,tsx}', '*.md' (top level only)."
    )
    path: str | None = Field(
        default=None,
        description="Folder to search in, relative to the working directory or absolute (inside "
        "it). Omit it to search the working directory.",
    )


class GlobTool(ThreadedTool):
    name = "Glob"
    description = (
        "Finds files whose path matches a glob pattern and returns their paths (relative to "
        "the working directory), most recently modified first, at most 100. Folders named "
        + ", ".join(sorted(SKIPPED_DIRS))
        + " are not searched unless `path` points into them. Use Grep to search file content."
    )
    Input = GlobInput

    def run_blocking(self, args: GlobInput, ctx: ToolContext) -> ToolResult:
        root = resolve_inside(ctx, args.path or ".")
        if not root.is_dir():
            raise ToolError(f"{args.path!r} is not a folder; give the folder to search in.")
        regex = compile_glob(_relative_pattern(args.pattern, root))
        base = relative_name(ctx, root)
        prefix = "" if base == "." else base + "/"
        walked = list(islice(walk(root, hidden=hidden_state(ctx)), MAX_WALKED_ENTRIES + 1))
        matches: list[tuple[int, str]] = []
        for entry in walked[:MAX_WALKED_ENTRIES]:
            if entry.is_dir or not regex.match(entry.relative):
                continue
            try:
                mtime = entry.lstat().st_mtime_ns
            except OSError:
                continue
            matches.append((-mtime, prefix + entry.relative))
        if not matches:
            return text_result("No files found.", ctx.settings)
        matches.sort()
        shown = [name for _, name in matches[:MAX_RESULTS]]
        notes: list[str] = []
        if len(matches) > MAX_RESULTS:
            notes.append(
                f"(Showing the {MAX_RESULTS} newest of {len(matches):,} files; use a more "
                "specific pattern or path.)"
            )
        if len(walked) > MAX_WALKED_ENTRIES:
            notes.append(
                f"(The search stopped after {MAX_WALKED_ENTRIES:,} entries; narrow the path.)"
            )
        return text_result("\n".join(shown + notes), ctx.settings)


def _relative_pattern(pattern: str, root: Path) -> str:
    """Accept an absolute pattern when it lies under the search folder."""
    if not pattern.startswith("/"):
        return pattern.removeprefix("./")
    root_text = root.as_posix().rstrip("/") + "/"
    if pattern.startswith(root_text):
        return pattern[len(root_text) :]
    raise ToolError(
        f"The pattern {pattern!r} is absolute and not under the search folder {root}; give a "
        "pattern relative to `path` (for example '**/*.py')."
    )
