"""Grep: search file content with a regular expression, like Claude Code's Grep tool.

Pure Python (``re``), so it behaves the same on every machine. The output
follows ripgrep's layout (``path:line:text`` for matches, ``path-line-text``
for context lines, ``--`` between groups) so that models trained on
Claude Code read it without surprise.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Literal

from pydantic import Field

from llmos.security.boundary import StateBoundary
from llmos.text import ESCAPED_NOTE, escape_surrogates, has_surrogates
from llmos.tools._fs import SKIPPED_DIRS, ThreadedTool, hidden_state, walk
from llmos.tools._globpat import matches_glob
from llmos.tools._schema import ToolInput
from llmos.tools._text import decode_text, looks_binary, text_result
from llmos.tools.base import ToolContext, ToolError, ToolResult, relative_name, resolve_inside

MAX_FILES_SCANNED = 50_000
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_LINE_CHARS = 2_000

FILE_TYPES: dict[str, tuple[str, ...]] = {
    "c": ("*.c", "*.h"),
    "cpp": ("*.cpp", "*.cc", "*.cxx", "*.hpp", "*.hh", "*.hxx", "*.h"),
    "cs": ("*.cs",),
    "css": ("*.css", "*.scss", "*.sass", "*.less"),
    "go": ("*.go",),
    "html": ("*.html", "*.htm"),
    "java": ("*.java",),
    "js": ("*.js", "*.mjs", "*.cjs", "*.jsx"),
    "json": ("*.json", "*.jsonl"),
    "kotlin": ("*.kt", "*.kts"),
    "md": ("*.md", "*.markdown"),
    "php": ("*.php",),
    "py": ("*.py", "*.pyi"),
    "rb": ("*.rb",),
    "rust": ("*.rs",),
    "sh": ("*.sh", "*.bash", "*.zsh"),
    "sql": ("*.sql",),
    "swift": ("*.swift",),
    "toml": ("*.toml",),
    "ts": ("*.ts", "*.tsx", "*.mts", "*.cts"),
    "txt": ("*.txt",),
    "xml": ("*.xml",),
    "yaml": ("*.yaml", "*.yml"),
}
ALIASES = {"python": "py", "ruby": "rb", "rs": "rust", "markdown": "md", "yml": "yaml"}
FILE_TYPES |= {alias: FILE_TYPES[name] for alias, name in ALIASES.items()}


class GrepInput(ToolInput):
    pattern: str = Field(
        description="Regular expression to search for (Python `re` syntax, close to ripgrep's), "
        "e.g. 'def \\w+\\(' or 'TODO|FIXME'. Escape literal ( [ { . with a backslash."
    )
    path: str | None = Field(
        default=None,
        description="File or folder to search, relative to the working directory or absolute "
        "(inside it). Omit it to search the working directory.",
    )
    glob: str | None = Field(
        default=None,
        description="Only search files matching this glob, e.g. '*.py' (any folder) or "
        "'src/**/*.{ts,tsx}' (relative to `path`).",
    )
    type: str | None = Field(
        default=None,
        description="Only search files of this type: " + ", ".join(sorted(FILE_TYPES)) + ".",
    )
    output_mode: Literal["content", "files_with_matches", "count"] = Field(
        default="files_with_matches",
        description="'files_with_matches' (default) lists the files that match, newest first; "
        "'content' shows the matching lines (with -A/-B/-C context and -n numbers); 'count' "
        "shows the number of matching lines per file.",
    )
    ignore_case: bool = Field(default=False, alias="-i", description="Case-insensitive search.")
    line_numbers: bool = Field(
        default=True, alias="-n", description="Show line numbers (content mode only)."
    )
    after: int | None = Field(
        default=None, ge=0, alias="-A", description="Lines of context after each match (content)."
    )
    before: int | None = Field(
        default=None, ge=0, alias="-B", description="Lines of context before each match (content)."
    )
    context: int | None = Field(
        default=None,
        ge=0,
        alias="-C",
        description="Lines of context before and after each match (content).",
    )
    head_limit: int | None = Field(
        default=None,
        gt=0,
        description="Only return the first N output lines (content) or entries (other modes).",
    )
    multiline: bool = Field(
        default=False,
        description="Let the pattern span lines ('.' then matches newlines too), e.g. "
        "'class A:[\\s\\S]*?def run'. By default a pattern matches within one line.",
    )


@dataclass(slots=True)
class _FileHits:
    """The matches found in one file."""

    name: str
    path: Path
    matched_lines: set[int] = field(default_factory=set)
    match_count: int = 0
    lines: list[str] = field(default_factory=list)


class GrepTool(ThreadedTool):
    name = "Grep"
    description = (
        "Searches file content with a regular expression (Python `re`). Filter files with "
        "`glob` or `type`; choose output_mode 'files_with_matches' (default), 'content' or "
        "'count'. Binary files and the folders "
        + ", ".join(sorted(SKIPPED_DIRS))
        + " are skipped. Paths are relative to the working directory. Use it instead of "
        "running grep or rg with Bash."
    )
    Input = GrepInput

    def run_blocking(self, args: GrepInput, ctx: ToolContext) -> ToolResult:
        regex = _compile(args)
        root = resolve_inside(ctx, args.path or ".")
        if not root.exists():
            raise ToolError(f"Path does not exist: {args.path!r}.")
        if args.type is not None and args.type not in FILE_TYPES:
            raise ToolError(
                f"Unknown file type {args.type!r}. Known types: {', '.join(sorted(FILE_TYPES))}; "
                "or use glob instead."
            )
        candidates, stopped = _candidates(root, args, ctx)
        hits = [
            found
            for name, path in candidates
            if (found := _search(regex, name, path, args)) is not None and found.match_count
        ]
        if not hits:
            text = "No matches found."
        elif args.output_mode == "files_with_matches":
            text = _files_report(hits, args.head_limit)
        elif args.output_mode == "count":
            text = _count_report(hits, args.head_limit)
        else:
            text = _content_report(hits, args)
        if has_surrogates(text):  # lines (or names) that are not UTF-8: kept, escaped
            text = escape_surrogates(text) + f"\n(The output is {ESCAPED_NOTE}.)"
        if stopped:
            text += (
                f"\n(The search stopped after {MAX_FILES_SCANNED:,} entries; narrow the path "
                "or add a glob.)"
            )
        return text_result(text, ctx.settings)


def _compile(args: GrepInput) -> re.Pattern[str]:
    flags = re.IGNORECASE if args.ignore_case else 0
    if args.multiline:
        flags |= re.MULTILINE | re.DOTALL
    try:
        return re.compile(args.pattern, flags)
    except re.error as exc:
        raise ToolError(
            f"Invalid regular expression {args.pattern!r}: {exc}. Grep uses Python `re` "
            "syntax; escape literal characters such as ( [ { with a backslash."
        ) from exc


def _candidates(
    root: Path, args: GrepInput, ctx: ToolContext
) -> tuple[list[tuple[str, Path]], bool]:
    """The files to search as (name relative to the working directory, path)."""
    cwd = ctx.cwd.resolve()
    boundary = StateBoundary.of(workspace=ctx.workspace, workdir=cwd)
    # Only a workspace kept inside the working directory puts keys within reach.
    keys_inside = boundary.is_secret(str(cwd)) or Path(boundary.workspace).is_relative_to(cwd)
    if keys_inside and boundary.is_secret(str(root.resolve())):
        raise ToolError(f"Access denied: {args.path!r} is llmos's signing keys.")
    if root.is_file():
        return [(relative_name(ctx, root), root)], False
    base = relative_name(ctx, root)
    prefix = "" if base == "." else base + "/"
    found: list[tuple[str, Path]] = []
    entries = walk(root, hidden=hidden_state(ctx))
    for entry in islice(entries, MAX_FILES_SCANNED):
        if entry.is_dir:
            continue
        if entry.is_symlink:  # read through a symlink only when it stays inside
            target = entry.path.resolve()
            if not target.is_relative_to(cwd) or not target.is_file():
                continue
        if args.glob is not None and not matches_glob(args.glob, entry.relative):
            continue
        if keys_inside and boundary.is_secret(str(entry.path.resolve())):
            continue  # its keys stay unread
        if args.type is not None and not any(
            matches_glob(pattern, entry.relative) for pattern in FILE_TYPES[args.type]
        ):
            continue
        found.append((prefix + entry.relative, entry.path))
    stopped = next(entries, None) is not None
    return found, stopped


def _search(regex: re.Pattern[str], name: str, path: Path, args: GrepInput) -> _FileHits | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if looks_binary(data):
        return None
    text = decode_text(data)
    hits = _FileHits(name=name, path=path)
    lines = [line.removesuffix("\r") for line in text.removesuffix("\n").split("\n")]
    if not text:
        lines = []
    if args.multiline:
        starts = [0, *(match.end() for match in re.finditer("\n", text))]
        for match in regex.finditer(text):
            first = bisect_right(starts, match.start()) - 1
            last = bisect_right(starts, max(match.end() - 1, match.start())) - 1
            hits.matched_lines.update(range(first, last + 1))
            hits.match_count += 1
    else:
        for index, line in enumerate(lines):
            if regex.search(line):
                hits.matched_lines.add(index)
        hits.match_count = len(hits.matched_lines)
    if args.output_mode == "content":
        hits.lines = lines
    return hits


def _files_report(hits: list[_FileHits], head_limit: int | None) -> str:
    def newest_first(found: _FileHits) -> tuple[int, str]:
        try:
            return -found.path.stat().st_mtime_ns, found.name
        except OSError:
            return 0, found.name

    names = [found.name for found in sorted(hits, key=newest_first)]
    shown = names[:head_limit] if head_limit else names
    header = f"Found {len(names)} file{'s' if len(names) != 1 else ''}"
    return "\n".join([header, *shown, *_limit_note(len(shown), len(names))])


def _count_report(hits: list[_FileHits], head_limit: int | None) -> str:
    rows = [f"{found.name}:{found.match_count}" for found in sorted(hits, key=lambda h: h.name)]
    shown = rows[:head_limit] if head_limit else rows
    total = sum(found.match_count for found in hits)
    summary = f"Found {total} match{'es' if total != 1 else ''} in {len(hits)} files"
    return "\n".join([*shown, *_limit_note(len(shown), len(rows)), summary])


def _content_report(hits: list[_FileHits], args: GrepInput) -> str:
    before = args.before if args.before is not None else (args.context or 0)
    after = args.after if args.after is not None else (args.context or 0)
    out: list[str] = []
    for found in sorted(hits, key=lambda h: h.name):
        shown: set[int] = set()
        for index in found.matched_lines:
            low = max(index - before, 0)
            shown.update(range(low, min(index + after + 1, len(found.lines))))
        previous = None
        for index in sorted(shown):
            if (before or after) and out and previous != index - 1:
                out.append("--")
            separator = ":" if index in found.matched_lines else "-"
            number = f"{index + 1}{separator}" if args.line_numbers else ""
            line = found.lines[index]
            if len(line) > MAX_LINE_CHARS:
                line = line[:MAX_LINE_CHARS] + f" [... line cut, {len(line):,} characters]"
            out.append(f"{found.name}{separator}{number}{line}")
            previous = index
    total = len(out)
    if args.head_limit:
        out = out[: args.head_limit]
    return "\n".join(out + _limit_note(len(out), total))


def _limit_note(shown: int, total: int) -> list[str]:
    if shown >= total:
        return []
    return [f"(head_limit: showing {shown} of {total}.)"]
