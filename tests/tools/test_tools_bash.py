"""Bash without the sandbox: output, exit codes, limits, time-outs and cleanup."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from llmos.config import ToolsConfig
from llmos.testing.processes import process_alive, wait_until_gone
from llmos.text import restore_surrogates
from llmos.tools.base import ToolContext, ToolResult

RunTool = Callable[..., Awaitable[ToolResult]]


async def test_stdout_and_exit_code_zero(run_tool: RunTool) -> None:
    result = await run_tool("Bash", {"command": "echo hello; echo world", "description": "greet"})
    assert not result.is_error
    assert result.content == "hello\nworld"
    assert result.exit_code == 0


async def test_stderr_and_a_failing_exit_code_are_reported(run_tool: RunTool) -> None:
    result = await run_tool("Bash", {"command": "echo out; echo oops >&2; exit 3"})
    assert result.is_error
    assert result.exit_code == 3
    assert result.content == "out\n[stderr]\noops\n[exit code 3]"


async def test_a_command_without_output_says_so(run_tool: RunTool) -> None:
    result = await run_tool("Bash", {"command": "true"})
    assert result.content == "(no output)"
    assert result.exit_code == 0


async def test_runs_in_the_working_directory_with_empty_stdin(run_tool: RunTool, cwd: Path) -> None:
    result = await run_tool("Bash", {"command": "pwd; cat; echo read=$?"})
    assert result.content == f"{cwd}\nread=0"


async def test_a_signal_death_is_reported_as_128_plus_the_signal(run_tool: RunTool) -> None:
    result = await run_tool("Bash", {"command": "kill -TERM $$"})
    assert result.exit_code == 128 + 15
    assert result.content == "[exit code 143]"


async def test_non_utf8_output_is_kept_escaped_with_a_note(run_tool: RunTool) -> None:
    """Issue 15: the bytes survive as escapes the trace can turn back into them."""
    raw = b"caf\xe9 C:\\dir\n\xff\\xe9"
    result = await run_tool("Bash", {"command": r"printf 'caf\xe9 C:\\dir\n\xff\\xe9'"})
    assert result.content == (
        "caf\\xe9 C:\\\\dir\n\\xff\\\\xe9\n[the output is not valid UTF-8: each byte that "
        "is not is shown as \\xNN (\\xe9 for the byte 0xe9) and each backslash of the text "
        "is doubled]"
    )
    assert result.output is not None
    body = result.output.rpartition("\n[the output is")[0]
    assert restore_surrogates(body).encode("utf-8", "surrogateescape") == raw


async def test_huge_output_is_cut_for_the_model_and_kept_whole_for_the_trace(
    run_tool: RunTool, cwd: Path
) -> None:
    result = await run_tool("Bash", {"command": "seq 1 100000"})
    assert result.output is not None
    assert result.output.splitlines() == [str(i) for i in range(1, 100_001)]
    assert len(result.content) <= 30_000
    assert "characters cut here" in result.content
    assert result.content.startswith("1\n2\n3\n")
    assert result.content.endswith("99999\n100000")


async def test_output_past_the_trace_limit_is_dropped_with_a_note(cwd: Path) -> None:
    from llmos.tools import default_registry

    settings = ToolsConfig(sandbox=False, trace_output_chars=1000, model_output_chars=500)
    ctx = ToolContext(cwd=cwd, workspace=cwd, settings=settings)
    result = await default_registry().execute(
        "Bash", {"command": "head -c 5000 /dev/zero | tr '\\0' a"}, ctx
    )
    assert result.output is not None
    assert result.output.startswith("a" * 1000)
    assert "[4,000 more bytes of output were not kept]" in result.output
    assert len(result.content) <= 500
    assert result.exit_code == 0


async def test_files_written_reports_created_and_changed_files_only(
    run_tool: RunTool, cwd: Path
) -> None:
    (cwd / "same.txt").write_text("unchanged")
    (cwd / "edit.txt").write_text("before")
    (cwd / ".git").mkdir()
    result = await run_tool(
        "Bash",
        {
            "command": "mkdir -p out && echo made > out/new.txt && echo after > edit.txt "
            "&& echo ignored > .git/HEAD && cat same.txt > /dev/null"
        },
    )
    assert result.files_written == {
        "edit.txt": hashlib.sha256(b"after\n").hexdigest(),
        "out/new.txt": hashlib.sha256(b"made\n").hexdigest(),
    }


async def test_timeout_kills_the_command_and_its_children(run_tool: RunTool, cwd: Path) -> None:
    result = await run_tool(
        "Bash", {"command": "sleep 300 & echo $! > child.pid; wait", "timeout": 300}
    )
    child = int((cwd / "child.pid").read_text())
    assert result.is_error
    assert result.content == (
        "[timed out after 0.3 s: the command and its child processes were killed; "
        "raise the timeout parameter or make the command faster]"
    )
    assert await wait_until_gone(child)


async def test_the_configured_limit_caps_the_requested_timeout(cwd: Path) -> None:
    from llmos.tools import default_registry

    ctx = ToolContext(cwd=cwd, workspace=cwd, settings=ToolsConfig(sandbox=False, bash_timeout=0.2))
    result = await default_registry().execute(
        "Bash", {"command": "sleep 30", "timeout": 600_000}, ctx
    )
    assert result.is_error
    assert result.content.startswith("[timed out after 0.2 s")


async def test_background_processes_are_stopped_when_the_command_returns(
    run_tool: RunTool, cwd: Path
) -> None:
    result = await run_tool("Bash", {"command": "sleep 300 > /dev/null 2>&1 & echo $! > bg.pid"})
    assert result.exit_code == 0
    assert await wait_until_gone(int((cwd / "bg.pid").read_text()))


async def test_cancelling_the_call_kills_the_process_group(run_tool: RunTool, cwd: Path) -> None:
    task = asyncio.create_task(run_tool("Bash", {"command": "sleep 300 & echo $! > c.pid; wait"}))
    pid_file = cwd / "c.pid"
    deadline = time.monotonic() + 120
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the command never started"
        await asyncio.sleep(0.02)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the cancelled call returned instead of raising CancelledError")
    assert await wait_until_gone(int(pid_file.read_text()))


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and process_alive(int(entry.name)):
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def test_a_call_cancelled_while_its_process_starts_leaves_no_process(cwd: Path) -> None:
    """The fork happens before asyncio has the pipes: a cancel then still kills the group."""
    from llmos.tools._process import run_process

    marker = f"llmos-spawn-cancel-{os.getpid()}"
    script = f"(exec -a {marker} sleep 300) & exec -a {marker} sleep 300"
    argv = ["bash", "-c", script, marker]
    for event_loop_turns in range(6):
        task = asyncio.create_task(
            run_process(argv, cwd=cwd, env=os.environ, timeout_s=300, keep_bytes=100)
        )
        for _ in range(event_loop_turns):
            await asyncio.sleep(0)
        task.cancel()
        # Before the fix asyncio killed the shell alone and waited for its children's pipes.
        done, _ = await asyncio.wait([task], timeout=60)
        assert done, f"cancelled after {event_loop_turns} turns, the call never returned"
        for pid in processes_with(marker):
            assert await wait_until_gone(pid), f"cancelled after {event_loop_turns} turns: {pid}"


async def test_a_missing_working_directory_is_an_error(tmp_path: Path) -> None:
    from llmos.tools import default_registry

    gone = tmp_path / "gone"
    ctx = ToolContext(cwd=gone, workspace=gone, settings=ToolsConfig(sandbox=False))
    result = await default_registry().execute("Bash", {"command": "true"}, ctx)
    assert result.is_error
    assert result.content == f"The working directory {gone} does not exist."


def test_process_alive_sees_this_process() -> None:
    assert process_alive(os.getpid())
