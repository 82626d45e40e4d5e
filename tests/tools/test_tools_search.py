"""Glob, Grep and LS: finding files and content inside the working directory."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from llmos.tools._globpat import matches_glob
from llmos.tools.base import ToolResult

RunTool = Callable[..., Awaitable[ToolResult]]


def make_tree(root: Path, files: dict[str, str | bytes]) -> None:
    """Create ``files``, the first one the newest, each older than the one before."""
    for age, (name, content) in enumerate(files.items()):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        stamp = 1_700_000_000 - age * 10
        os.utime(path, (stamp, stamp))


@pytest.fixture
def project(cwd: Path) -> Path:
    make_tree(
        cwd,
        {
            "src/app.py": "import os\n\ndef main():\n    return os.getcwd()\n",
            "src/util.py": "def helper():\n    return 42\n",
            "web/index.ts": "export const main = () => 1;\n",
            "web/view.tsx": "export function View() {}\n",
            "README.md": "# Project\nRun main to start.\n",
            "logo.png": b"\x89PNG\x00\x00main",
            "node_modules/dep/index.js": "function main() {}\n",
            ".git/config": "[core] main\n",
        },
    )
    return cwd


# --- glob patterns ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.py", "a.py", True),
        ("*.py", "src/a.py", True),  # no "/": matches the name anywhere, like rg --glob
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/sub/a.py", False),
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/x/y/a.py", True),
        ("**/*.{ts,tsx}", "web/a.tsx", True),
        ("**/*.{ts,tsx}", "web/a.js", False),
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file10.txt", False),
        ("[ab].md", "b.md", True),
        ("[!ab].md", "c.md", True),
        ("[!ab].md", "a.md", False),
        ("docs/**", "docs/a/b.md", True),
        ("a+b(1).txt", "a+b(1).txt", True),
        ("{unclosed", "{unclosed", True),
    ],
)
def test_glob_patterns_follow_ripgrep(pattern: str, path: str, expected: bool) -> None:
    assert matches_glob(pattern, path) is expected


# --- Glob ---------------------------------------------------------------------------------


async def test_glob_lists_matches_newest_first(run_tool: RunTool, project: Path) -> None:
    result = await run_tool("Glob", {"pattern": "**/*.py"})
    assert result.content == "src/app.py\nsrc/util.py"


async def test_glob_star_stays_at_the_top_level(run_tool: RunTool, project: Path) -> None:
    result = await run_tool("Glob", {"pattern": "*.md"})
    assert result.content == "README.md"


async def test_glob_braces_and_a_search_path(run_tool: RunTool, project: Path) -> None:
    result = await run_tool("Glob", {"pattern": "*.{ts,tsx}", "path": "web"})
    assert result.content == "web/index.ts\nweb/view.tsx"


async def test_glob_accepts_an_absolute_pattern_under_the_path(
    run_tool: RunTool, project: Path
) -> None:
    result = await run_tool("Glob", {"pattern": f"{project}/src/*.py"})
    assert result.content == "src/app.py\nsrc/util.py"


async def test_glob_skips_dependency_and_vcs_folders_unless_asked(
    run_tool: RunTool, project: Path
) -> None:
    everywhere = await run_tool("Glob", {"pattern": "**/*.js"})
    inside = await run_tool("Glob", {"pattern": "**/*.js", "path": "node_modules"})
    assert everywhere.content == "No files found."
    assert inside.content == "node_modules/dep/index.js"


async def test_glob_caps_the_number_of_results(run_tool: RunTool, cwd: Path) -> None:
    make_tree(cwd, {f"f{i:03}.txt": "" for i in range(130)})
    result = await run_tool("Glob", {"pattern": "*.txt"})
    lines = result.content.splitlines()
    assert lines[0] == "f000.txt"  # the newest
    assert len(lines) == 101
    assert (
        lines[-1] == "(Showing the 100 newest of 130 files; use a more specific pattern or path.)"
    )


async def test_glob_path_must_be_a_folder(run_tool: RunTool, project: Path) -> None:
    result = await run_tool("Glob", {"pattern": "*", "path": "README.md"})
    assert result.is_error
    assert result.content == "'README.md' is not a folder; give the folder to search in."


# --- Grep ---------------------------------------------------------------------------------


async def test_grep_lists_matching_files_newest_first_by_default(
    run_tool: RunTool, project: Path
) -> None:
    result = await run_tool("Grep", {"pattern": "main"})
    # logo.png is binary; node_modules and .git are skipped
    assert result.content == "Found 3 files\nsrc/app.py\nweb/index.ts\nREADME.md"


async def test_grep_content_mode_with_line_numbers(run_tool: RunTool, project: Path) -> None:
    result = await run_tool("Grep", {"pattern": r"def \w+", "output_mode": "content"})
    assert result.content == "src/app.py:3:def main():\nsrc/util.py:1:def helper():"


async def test_grep_content_without_line_numbers(run_tool: RunTool, project: Path) -> None:
    result = await run_tool("Grep", {"pattern": "helper", "output_mode": "content", "-n": False})
    assert result.content == "src/util.py:def helper():"


async def test_grep_context_lines_use_ripgrep_separators(run_tool: RunTool, cwd: Path) -> None:
    make_tree(cwd, {"t.txt": "a\nhit 1\nb\nc\nd\ne\nhit 2\nf\n"})
    result = await run_tool("Grep", {"pattern": "hit", "output_mode": "content", "-B": 1, "-A": 1})
    assert result.content == (
        "t.txt-1-a\nt.txt:2:hit 1\nt.txt-3-b\n--\nt.txt-6-e\nt.txt:7:hit 2\nt.txt-8-f"
    )
    both = await run_tool("Grep", {"pattern": "hit 2", "output_mode": "content", "-C": 2})
    assert both.content == "t.txt-5-d\nt.txt-6-e\nt.txt:7:hit 2\nt.txt-8-f"


async def test_grep_count_mode(run_tool: RunTool, cwd: Path) -> None:
    make_tree(cwd, {"a.txt": "x\nx\ny\n", "b.txt": "x\n", "c.txt": "none\n"})
    result = await run_tool("Grep", {"pattern": "x", "output_mode": "count"})
    assert result.content == "a.txt:2\nb.txt:1\nFound 3 matches in 2 files"


async def test_grep_case_insensitive_and_type_filter(run_tool: RunTool, project: Path) -> None:
    result = await run_tool(
        "Grep", {"pattern": "RETURN", "-i": True, "type": "py", "output_mode": "count"}
    )
    assert result.content == "src/app.py:1\nsrc/util.py:1\nFound 2 matches in 2 files"


async def test_grep_glob_filter(run_tool: RunTool, project: Path) -> None:
    result = await run_tool("Grep", {"pattern": "export", "glob": "*.tsx"})
    assert result.content == "Found 1 file\nweb/view.tsx"


async def test_grep_a_single_file_path(run_tool: RunTool, project: Path) -> None:
    result = await run_tool(
        "Grep", {"pattern": "return", "path": "src/util.py", "output_mode": "content"}
    )
    assert result.content == "src/util.py:2:    return 42"


async def test_grep_multiline_spans_lines(run_tool: RunTool, project: Path) -> None:
    result = await run_tool(
        "Grep",
        {"pattern": r"def main\(\):\s+return", "multiline": True, "output_mode": "content"},
    )
    assert result.content == "src/app.py:3:def main():\nsrc/app.py:4:    return os.getcwd()"
    single = await run_tool("Grep", {"pattern": r"def main\(\):\s+return"})
    assert single.content == "No matches found."


async def test_grep_head_limit(run_tool: RunTool, cwd: Path) -> None:
    make_tree(cwd, {"many.txt": "".join(f"row {i}\n" for i in range(10))})
    result = await run_tool("Grep", {"pattern": "row", "output_mode": "content", "head_limit": 3})
    assert result.content == (
        "many.txt:1:row 0\nmany.txt:2:row 1\nmany.txt:3:row 2\n(head_limit: showing 3 of 10.)"
    )


async def test_grep_reads_non_utf8_files_escaped(run_tool: RunTool, cwd: Path) -> None:
    make_tree(cwd, {"latin.txt": "café au lait\n".encode("latin-1")})
    result = await run_tool("Grep", {"pattern": "au lait", "output_mode": "content"})
    assert result.content == (
        "latin.txt:1:caf\\xe9 au lait\n(The output is not valid UTF-8: each byte that is not "
        "is shown as \\xNN (\\xe9 for the byte 0xe9) and each backslash of the text is doubled.)"
    )


async def test_grep_invalid_regex_is_an_error_the_model_can_fix(run_tool: RunTool) -> None:
    result = await run_tool("Grep", {"pattern": "interface{"})
    assert not result.is_error  # "{" alone is a literal in Python re
    bad = await run_tool("Grep", {"pattern": "(unclosed"})
    assert bad.is_error
    assert bad.content.startswith("Invalid regular expression '(unclosed': missing ), ")


async def test_grep_unknown_type_lists_the_known_ones(run_tool: RunTool) -> None:
    result = await run_tool("Grep", {"pattern": "x", "type": "cobol"})
    assert result.is_error
    assert result.content.startswith("Unknown file type 'cobol'. Known types: c, cpp, cs,")


async def test_grep_missing_path(run_tool: RunTool) -> None:
    result = await run_tool("Grep", {"pattern": "x", "path": "nowhere"})
    assert result.is_error
    assert result.content == "Path does not exist: 'nowhere'."


# --- LS -----------------------------------------------------------------------------------


async def test_ls_shows_a_tree_with_folders_marked(run_tool: RunTool, project: Path) -> None:
    (project / "link").symlink_to("src")
    result = await run_tool("LS", {"path": "."})
    assert result.content == "\n".join(
        [
            "./",
            "  - .git/",
            "  - README.md",
            "  - link -> src",
            "  - logo.png",
            "  - node_modules/",
            "  - src/",
            "    - app.py",
            "    - util.py",
            "  - web/",
            "    - index.ts",
            "    - view.tsx",
        ]
    )


async def test_ls_ignore_patterns_leave_entries_out(run_tool: RunTool, project: Path) -> None:
    result = await run_tool("LS", {"path": str(project), "ignore": ["web", "*.png", ".*"]})
    assert result.content == "\n".join(
        ["./", "  - README.md", "  - node_modules/", "  - src/", "    - app.py", "    - util.py"]
    )


async def test_ls_a_subfolder_an_empty_folder_and_errors(run_tool: RunTool, project: Path) -> None:
    (project / "empty").mkdir()
    sub = await run_tool("LS", {"path": "src"})
    empty = await run_tool("LS", {"path": "empty"})
    missing = await run_tool("LS", {"path": "nope"})
    a_file = await run_tool("LS", {"path": "README.md"})
    assert sub.content == "src/\n  - app.py\n  - util.py"
    assert empty.content == "empty/\n  (empty folder)"
    assert missing.is_error and missing.content == "Folder does not exist: 'nope'."
    assert (
        a_file.is_error
        and a_file.content == "'README.md' is a file, not a folder; use Read to see it."
    )


async def test_grep_shows_lines_that_are_not_utf8_escaped(run_tool: RunTool, cwd: Path) -> None:
    """Issue 15: a matched Latin-1 line keeps its bytes (escaped), never U+FFFD."""
    (cwd / "latin.txt").write_bytes(b"name = caf\xe9 \\ end\n")
    result = await run_tool("Grep", {"pattern": "name", "output_mode": "content"})
    assert result.content.startswith("latin.txt:1:name = caf\\xe9 \\\\ end\n(The output is not")
    assert "\ufffd" not in result.content
