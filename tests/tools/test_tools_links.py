"""Write, Edit and Read never follow a link out of the working directory, even in a race."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from llmos.config import ToolsConfig
from llmos.tools import default_registry
from llmos.tools.base import ToolContext


@pytest.fixture
def ctx(workspace: Path) -> ToolContext:
    cwd = workspace / "output"
    cwd.mkdir(parents=True)
    return ToolContext(cwd=cwd, workspace=workspace, settings=ToolsConfig(sandbox=False))


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "canary.txt").write_text("untouched\n")
    return folder


async def run(ctx: ToolContext, tool: str, **tool_input: object):
    return await default_registry().execute(tool, tool_input, ctx)


async def test_a_link_that_stays_inside_is_followed(ctx: ToolContext) -> None:
    (ctx.cwd / "src").mkdir()
    (ctx.cwd / "lib").symlink_to("src", target_is_directory=True)
    result = await run(ctx, "Write", file_path="lib/app.py", content="x = 1\n")
    assert not result.is_error, result.content
    assert (ctx.cwd / "src" / "app.py").read_text() == "x = 1\n"
    assert list(result.files_written) == ["src/app.py"]  # the real path is recorded


async def test_a_symlink_made_by_a_step_cannot_redirect_a_write(
    ctx: ToolContext, canary: Path
) -> None:
    (ctx.cwd / "notes.txt").symlink_to(canary / "canary.txt")
    (ctx.cwd / "up").symlink_to("..", target_is_directory=True)
    for target in ("notes.txt", "up/llmos.toml"):
        for tool, extra in (("Write", {"content": "pwned"}), ("Read", {})):
            result = await run(ctx, tool, file_path=target, **extra)
            assert result.is_error, (tool, target, result.content)
            assert result.content.startswith(f"Access denied: {target!r}")
    assert (canary / "canary.txt").read_text() == "untouched\n"
    assert not (ctx.workspace / "llmos.toml").exists()


async def test_a_hard_link_is_not_read_and_a_write_breaks_it(
    ctx: ToolContext, canary: Path
) -> None:
    try:
        os.link(canary / "canary.txt", ctx.cwd / "hard.txt")
    except OSError as exc:  # another file system, or protected hard links
        pytest.skip(f"cannot make a hard link here: {exc}")
    read = await run(ctx, "Read", file_path="hard.txt")
    assert read.is_error and "has 2 hard links" in read.content
    written = await run(ctx, "Write", file_path="hard.txt", content="new\n")
    assert not written.is_error
    assert (ctx.cwd / "hard.txt").read_text() == "new\n"
    assert (canary / "canary.txt").read_text() == "untouched\n"


async def test_project_settings_inside_the_working_directory_are_refused(
    ctx: ToolContext,
) -> None:
    for target in (".llmos/config.toml", "sub/.llmos/hooks.py"):
        result = await run(ctx, "Write", file_path=target, content="evil")
        assert result.is_error and "llmos's own state" in result.content, result.content
    assert not (ctx.cwd / ".llmos").exists()
    assert not (ctx.cwd / "sub" / ".llmos").exists()
    edit = await run(ctx, "Edit", file_path=".llmos/x", old_string="", new_string="y")
    assert edit.is_error and "llmos's own state" in edit.content


async def test_a_workspace_inside_the_working_directory_is_refused(tmp_path: Path) -> None:
    """Later the task works in the user's folder; the workspace may lie inside it."""
    user = tmp_path / "user"
    workspace = user / "ws"
    (workspace / "hooks").mkdir(parents=True)
    ctx = ToolContext(cwd=user, workspace=workspace, settings=ToolsConfig(sandbox=False))
    bad = await run(ctx, "Write", file_path="ws/hooks/pwn.py", content="import os")
    good = await run(ctx, "Write", file_path="app.py", content="print(1)\n")
    assert bad.is_error and "llmos's own state" in bad.content
    assert not good.is_error
    assert list((workspace / "hooks").iterdir()) == []


def test_swapping_a_folder_for_a_symlink_during_writes_never_escapes(
    ctx: ToolContext, canary: Path
) -> None:
    """A process flips ``sub`` between a folder and a link out while Write runs."""
    import asyncio

    sub = ctx.cwd / "sub"
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            try:
                if sub.is_symlink():
                    sub.unlink()
                    sub.mkdir()
                else:
                    for child in sub.iterdir():
                        child.unlink()
                    sub.rmdir()
                    sub.symlink_to(canary, target_is_directory=True)
            except OSError:
                continue

    flipper = threading.Thread(target=flip)
    flipper.start()

    async def writes() -> int:
        done = 0
        for _ in range(300):
            result = await run(ctx, "Write", file_path="sub/canary.txt", content="pwned\n")
            done += not result.is_error
        return done

    try:
        asyncio.run(writes())
    finally:
        stop.set()
        flipper.join()
    assert (canary / "canary.txt").read_text() == "untouched\n"
    assert sorted(p.name for p in canary.iterdir()) == ["canary.txt"]


async def test_a_bash_step_cannot_leave_project_settings_behind(ctx: ToolContext) -> None:
    result = await run(
        ctx,
        "Bash",
        command="mkdir -p .llmos/hooks sub/.llmos && echo evil > .llmos/hooks/x.py; "
        "echo x > sub/.llmos/config.toml; echo ok > kept.txt",
    )
    assert result.is_error
    assert "it was removed" in result.content
    assert not (ctx.cwd / ".llmos").exists() and not (ctx.cwd / "sub" / ".llmos").exists()
    assert (ctx.cwd / "kept.txt").read_text() == "ok\n"
    assert list(result.files_written) == ["kept.txt"]


async def test_grep_does_not_read_the_signing_keys_of_a_workspace_inside(tmp_path: Path) -> None:
    user = tmp_path / "user"
    (user / "ws" / "keys").mkdir(parents=True)
    (user / "ws" / "keys" / "signing.key").write_text("SECRETKEY\n")
    (user / "notes.txt").write_text("SECRETKEY is a word here\n")
    ctx = ToolContext(cwd=user, workspace=user / "ws", settings=ToolsConfig(sandbox=False))
    found = await run(ctx, "Grep", pattern="SECRETKEY")
    assert found.content == "Found 1 file\nnotes.txt"
    read = await run(ctx, "Read", file_path="ws/keys/signing.key")
    assert read.is_error and "llmos's own state" in read.content
