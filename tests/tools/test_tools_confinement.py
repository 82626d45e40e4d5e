"""Every file tool stays inside the working directory: escapes are errors, never clamps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from llmos.tools.base import ToolResult

RunTool = Callable[..., Awaitable[ToolResult]]


def call(tool: str, target: str) -> dict[str, Any]:
    """An input for ``tool`` aimed at ``target``."""
    return {
        "Read": {"file_path": target},
        "Write": {"file_path": target, "content": "overwritten"},
        "Edit": {"file_path": target, "old_string": "do not touch", "new_string": "touched"},
        "LS": {"path": target},
        "Glob": {"pattern": "*", "path": target},
        "Grep": {"pattern": "touch", "path": target},
    }[tool]


def escape(how: str, cwd: Path, outside: Path, *, folder: bool) -> str:
    """A path that leads out of ``cwd`` to ``outside`` (or the secret file in it)."""
    secret = outside / "secret.txt"
    if how == "dotdot":
        return "../outside" if folder else "../outside/secret.txt"
    if how == "absolute":
        return str(outside if folder else secret)
    if how == "symlink":
        (cwd / "link").symlink_to(outside if folder else secret, target_is_directory=folder)
        return "link"
    (cwd / "docs").symlink_to(outside, target_is_directory=True)  # through a symlinked folder
    return "docs/." if folder else "docs/secret.txt"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("tool", ["Read", "Write", "Edit", "LS", "Glob", "Grep"])
@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink", "symlinked-folder"])
async def test_paths_outside_the_working_directory_are_refused(
    run_tool: RunTool, cwd: Path, outside: Path, how: str, tool: str
) -> None:
    target = escape(how, cwd, outside, folder=tool in ("LS", "Glob", "Grep"))
    before = snapshot(outside)

    result = await run_tool(tool, call(tool, target))

    assert result.is_error, result.content
    assert result.content.startswith(f"Access denied: {target!r} resolves to ")
    assert f"outside the working directory {cwd}" in result.content
    assert "do not touch" not in result.content
    assert snapshot(outside) == before
    assert result.files_written == {} and result.files_read == ()


async def test_a_new_file_through_a_symlinked_folder_is_not_created_outside(
    run_tool: RunTool, cwd: Path, outside: Path
) -> None:
    (cwd / "out").symlink_to(outside, target_is_directory=True)
    result = await run_tool("Write", {"file_path": "out/new/file.txt", "content": "x"})
    assert result.is_error
    assert not (outside / "new").exists()


async def test_glob_and_grep_do_not_follow_symlinks_out(
    run_tool: RunTool, cwd: Path, outside: Path
) -> None:
    (cwd / "here.txt").write_text("do not touch, but this one is mine\n")
    (cwd / "linked_dir").symlink_to(outside, target_is_directory=True)
    (cwd / "linked_file.txt").symlink_to(outside / "secret.txt")

    grep = await run_tool("Grep", {"pattern": "touch", "output_mode": "content"})
    glob = await run_tool("Glob", {"pattern": "**/*.txt"})

    assert grep.content == "here.txt:1:do not touch, but this one is mine"
    assert "secret" not in glob.content
    assert sorted(glob.content.splitlines()) == ["here.txt", "linked_file.txt"]


async def test_the_home_shortcut_is_confined_too(run_tool: RunTool, cwd: Path) -> None:
    result = await run_tool("Read", {"file_path": "~/.bashrc"})
    assert result.is_error
    assert result.content.startswith("Access denied: '~/.bashrc' resolves to ")
