"""Bash inside bubblewrap, for real: read-only system, writable workspace, no network."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from llmos.config import ToolsConfig
from llmos.tools import default_registry
from llmos.tools.base import ToolContext, ToolResult
from llmos.tools.sandbox import sandbox_status

needs_bwrap = pytest.mark.skipif(
    not sandbox_status().available,
    reason="bubblewrap (bwrap) is not installed or is turned off (LLMOS_NO_BWRAP); install the "
    "Debian package `bubblewrap` (apt-get install -y bubblewrap) to run the sandbox tests",
)


@pytest.fixture
def project(workspace: Path) -> Path:
    """The task's working directory: a folder inside the workspace."""
    folder = workspace / "projects" / "demo"
    folder.mkdir(parents=True)
    return folder


def sandboxed(project: Path, workspace: Path, *, network: bool = False) -> ToolContext:
    settings = ToolsConfig(sandbox=True, sandbox_network=network, bash_timeout=30)
    return ToolContext(cwd=project, workspace=workspace, settings=settings)


async def bash(command: str, ctx: ToolContext) -> ToolResult:
    return await default_registry().execute("Bash", {"command": command}, ctx)


def processes_running(marker: str) -> list[int]:
    """Host pids of live processes whose command line starts with ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if cmdline.startswith(marker) and state not in ("Z", "X"):
            found.append(int(proc.name))
    return found


@pytest.fixture
async def local_port() -> AsyncIterator[int]:
    """A TCP server on the host's 127.0.0.1 that answers 'pong'."""

    async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"pong\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@needs_bwrap
def test_bubblewrap_works_here() -> None:
    status = sandbox_status()
    assert status.available, status.reason
    assert status.reason.startswith("bubblewrap works")


def test_missing_bubblewrap_is_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on this PATH
    monkeypatch.delenv("LLMOS_NO_BWRAP", raising=False)
    status = sandbox_status.__wrapped__()
    assert not status.available
    assert status.reason.startswith("bubblewrap (bwrap) is not installed, so Bash runs without")
    assert "`bubblewrap`" in status.reason


@needs_bwrap
async def test_only_the_working_directory_is_writable(project: Path, workspace: Path) -> None:
    result = await bash(
        "echo inside > made.txt && echo up > ../../top.txt", sandboxed(project, workspace)
    )
    assert result.exit_code != 0
    assert (project / "made.txt").read_text() == "inside\n"
    assert not (workspace / "top.txt").exists()
    assert result.files_written == {"made.txt": hashlib.sha256(b"inside\n").hexdigest()}


def host_folder_outside_tmp() -> Path:
    """A folder this user may write on the host that the sandbox shows read-only.

    Not HOME (it may be under the temporary folder, which the sandbox hides
    rather than shows read-only) and not the temporary folder itself.
    """
    tmp_roots = {Path("/tmp").resolve(), Path(tempfile.gettempdir()).resolve()}
    for folder in (Path("/var/tmp"), Path("/usr/local"), Path(__file__).parent, Path.home()):
        resolved = folder.resolve()
        under_tmp = any(resolved.is_relative_to(root) for root in tmp_roots)
        if resolved.is_dir() and os.access(resolved, os.W_OK) and not under_tmp:
            return resolved
    raise AssertionError("no folder outside the temporary folder is writable here")


@needs_bwrap
async def test_llmos_state_is_absent_in_the_sandbox(project: Path, workspace: Path) -> None:
    """Config, hooks, memory and other projects are not there: nothing to read or replace."""
    (workspace / "llmos.toml").write_text("[tools]\nsandbox = true\n")
    (workspace / "hooks").mkdir()
    (workspace / "hooks" / "audit.py").write_text("# the user's hook\n")
    other = workspace / "projects" / "other" / "memory"
    other.mkdir(parents=True)
    (other / "fact.md").write_text("keep me\n")
    result = await bash(
        "ls ../..; cat ../../llmos.toml; echo x > ../../hooks/pwn.py; rm -rf ../other; "
        "mkdir -p ../../hooks && echo y > ../../hooks/pwn2.py; ls ../../hooks",
        sandboxed(project, workspace),
    )
    assert "sandbox = true" not in result.content
    assert "audit.py" not in result.content
    assert sorted(p.name for p in (workspace / "hooks").iterdir()) == ["audit.py"]
    assert (other / "fact.md").read_text() == "keep me\n"
    assert (workspace / "llmos.toml").read_text() == "[tools]\nsandbox = true\n"


@needs_bwrap
async def test_a_project_settings_folder_stays_out_of_reach(project: Path, workspace: Path) -> None:
    settings = project / ".llmos"
    settings.mkdir()
    (settings / "config.toml").write_text("mine\n")
    result = await bash(
        "cat .llmos/config.toml; echo evil > .llmos/config.toml; echo ok > kept.txt",
        sandboxed(project, workspace),
    )
    assert "mine" not in result.content
    assert (settings / "config.toml").read_text() == "mine\n"
    assert (project / "kept.txt").read_text() == "ok\n"


@needs_bwrap
async def test_credential_folders_are_absent(
    project: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = project / "home"  # not under /tmp, which the sandbox replaces anyway
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE KEY canary\n")
    (home / ".netrc").write_text("machine x password canary\n")
    (home / "notes.txt").write_text("ordinary\n")
    monkeypatch.setenv("HOME", str(home))
    result = await bash(
        f"cat {home}/.ssh/id_rsa {home}/.netrc {home}/notes.txt", sandboxed(project, workspace)
    )
    assert "canary" not in result.content
    assert "ordinary" in result.content


@needs_bwrap
async def test_writing_outside_the_workspace_fails(project: Path, workspace: Path) -> None:
    probe = host_folder_outside_tmp() / f".llmos-sandbox-probe-{uuid.uuid4().hex}"
    try:
        result = await bash(f"echo escaped > {probe}", sandboxed(project, workspace))
        assert result.exit_code != 0
        assert "Read-only file system" in result.content
        assert not probe.exists()
    finally:
        probe.unlink(missing_ok=True)


@needs_bwrap
async def test_tmp_is_private(project: Path, workspace: Path, outside: Path) -> None:
    name = f"llmos-sandbox-{uuid.uuid4().hex}"
    result = await bash(
        f"echo t > /tmp/{name} && cat /tmp/{name} && ls {outside}", sandboxed(project, workspace)
    )
    assert not await asyncio.to_thread(Path("/tmp", name).exists)
    assert result.content.startswith("t\n[stderr]\nls: cannot access")  # host /tmp is hidden
    assert (outside / "secret.txt").read_text() == "do not touch\n"


@needs_bwrap
async def test_the_network_is_cut_off(project: Path, workspace: Path, local_port: int) -> None:
    ctx = sandboxed(project, workspace)
    interfaces = await bash("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '", ctx)
    connect = await bash(f"exec 3<>/dev/tcp/127.0.0.1/{local_port} && head -1 <&3", ctx)
    assert interfaces.content == "lo"
    assert connect.exit_code != 0
    assert "pong" not in connect.content


@needs_bwrap
async def test_the_network_can_be_allowed(project: Path, workspace: Path, local_port: int) -> None:
    ctx = sandboxed(project, workspace, network=True)
    result = await bash(f"exec 3<>/dev/tcp/127.0.0.1/{local_port} && head -1 <&3", ctx)
    assert result.content == "pong"
    assert result.exit_code == 0


@needs_bwrap
async def test_the_system_cannot_be_remounted_writable(project: Path, workspace: Path) -> None:
    result = await bash(
        "mount -o remount,rw / && touch /usr/llmos-probe", sandboxed(project, workspace)
    )
    assert result.exit_code != 0
    assert "Permission denied" in result.content or "permission denied" in result.content
    assert not await asyncio.to_thread(Path("/usr/llmos-probe").exists)


@needs_bwrap
async def test_a_time_out_kills_everything_in_the_sandbox(project: Path, workspace: Path) -> None:
    marker = f"{uuid.uuid4().int % 10_000 + 1000}.25"  # a unique sleep length to find it by
    ctx = sandboxed(project, workspace)
    result = await default_registry().execute(
        "Bash", {"command": f"sleep {marker} & sleep {marker}", "timeout": 500}, ctx
    )
    assert result.is_error
    assert result.content.startswith("[timed out after 0.5 s")
    for _ in range(100):
        if not processes_running(f"sleep {marker}"):
            break
        await asyncio.sleep(0.05)
    assert processes_running(f"sleep {marker}") == []


@needs_bwrap
async def test_sandbox_off_runs_on_the_host(project: Path, workspace: Path, outside: Path) -> None:
    settings = ToolsConfig(sandbox=False)
    ctx = ToolContext(cwd=project, workspace=workspace, settings=settings)
    result = await bash(f"ls {outside}", ctx)
    assert result.content == "secret.txt"


@needs_bwrap
async def test_cancelling_a_sandboxed_call_kills_everything(project: Path, workspace: Path) -> None:
    marker = f"{uuid.uuid4().int % 10_000 + 1000}.75"
    ctx = sandboxed(project, workspace)
    task = asyncio.create_task(bash(f"sleep {marker} & touch started; sleep {marker}", ctx))
    for _ in range(200):
        if await asyncio.to_thread((project / "started").exists):
            break
        await asyncio.sleep(0.025)
    assert len(processes_running(f"sleep {marker}")) == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if not processes_running(f"sleep {marker}"):
            break
        await asyncio.sleep(0.05)
    assert processes_running(f"sleep {marker}") == []


@needs_bwrap
async def test_a_replay_has_no_network_unless_replays_are_allowed_it(
    project: Path, workspace: Path, local_port: int
) -> None:
    from llmos.hooks.pipeline import HookPipeline
    from llmos.messages import ToolCall, Usage
    from llmos.runtime.bus import EventBus
    from llmos.runtime.task import TaskContext
    from llmos.runtime.tool_runner import run_tool_call

    async def free(_model: str, _usage: Usage) -> float:
        return 0.0

    connect = {"command": f"exec 3<>/dev/tcp/127.0.0.1/{local_port} && head -1 <&3"}

    async def fetch(settings: ToolsConfig, *, replay: bool) -> str:
        task = TaskContext(
            task_id="t",
            goal="g",
            bus=EventBus(),
            hooks=HookPipeline(),
            tools=default_registry(),
            tool_ctx=ToolContext(cwd=project, workspace=workspace, settings=settings),
            price=free,
        )
        outcome = await run_tool_call(
            task, ToolCall(id="c", name="Bash", input=connect), replay=replay
        )
        return outcome.result.content

    learning = ToolsConfig(sandbox=True, sandbox_network=True, bash_timeout=30)
    assert await fetch(learning, replay=False) == "pong"
    assert "pong" not in await fetch(learning, replay=True)
    both = ToolsConfig(sandbox=True, sandbox_network=True, sandbox_network_replay=True)
    assert await fetch(both, replay=True) == "pong"


@needs_bwrap
async def test_a_sandboxed_call_cancelled_while_bubblewrap_starts_leaves_nothing(
    project: Path, workspace: Path
) -> None:
    """bwrap sets up the sandbox after the fork: a cancel then must still reach the command."""
    marker = f"{uuid.uuid4().int % 10_000 + 1000}.5"
    ctx = sandboxed(project, workspace)
    for delay_s in [n / 1000 for n in range(0, 40, 2)] + [0.05, 0.1, 0.2]:
        task = asyncio.create_task(bash(f"sleep {marker} & sleep {marker}", ctx))
        await asyncio.sleep(delay_s)
        task.cancel()
        await asyncio.wait([task], timeout=120)
        assert task.done(), f"cancelled after {delay_s} s, the call never returned"
        for _ in range(1200):
            if not processes_running(f"sleep {marker}"):
                break
            await asyncio.sleep(0.05)
        assert processes_running(f"sleep {marker}") == [], f"cancelled after {delay_s} s"
