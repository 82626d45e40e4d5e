"""The OS sandbox for Bash: bubblewrap, where it is installed and works.

Inside the sandbox the whole file system is read-only except the workspace
and the working directory; ``/tmp``, ``/dev``, ``/proc`` and ``/run`` are
private (``/run`` is masked so that the host's Unix sockets, such as a
database or a container daemon, cannot be reached); the network is cut off
unless ``tools.sandbox_network`` is set; the command has no capabilities
(even when llmos runs as root), sees its own process tree, and everything in
it dies with the sandbox. Where bubblewrap is missing
or cannot create namespaces (some containers forbid it), Bash runs without
it and :func:`sandbox_status` says why, so the caller can tell the user once.

An :class:`~llmos.tools.base.Isolation` in the settings (verifying an
untrusted trace) makes the sandbox mandatory (no bubblewrap: the command is
refused), cuts the network, and puts an empty read-only folder in place of
each hidden one (the workspace, the real working directory).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from llmos.tools.base import Isolation, ToolContext, ToolError

PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    """Whether Bash can run inside bubblewrap here, and why (not)."""

    available: bool
    reason: str


@functools.cache
def sandbox_status() -> SandboxStatus:
    """Probe bubblewrap once per process (the answer is cached).

    The probe runs ``true`` with the same isolation a real command gets, so
    a kernel or container that refuses namespaces shows up here and not in
    the middle of a task. It blocks for a moment: call it from a thread in
    async code.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return SandboxStatus(
            available=False,
            reason="bubblewrap (bwrap) is not installed, so Bash runs without an OS sandbox, "
            "under the security policy alone; install the Debian package `bubblewrap` to "
            "enable it.",
        )
    root = Path("/")
    argv = [bwrap, *_isolation_args(writable=(), cwd=root, network=False), "--", "true"]
    try:
        probe = subprocess.run(
            argv,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _broken(f"{type(exc).__name__}: {exc}")
    if probe.returncode != 0:
        detail = probe.stderr.decode("utf-8", "replace").strip() or f"exit code {probe.returncode}"
        return _broken(detail)
    return SandboxStatus(available=True, reason=f"bubblewrap works ({bwrap})")


def _broken(detail: str) -> SandboxStatus:
    return SandboxStatus(
        available=False,
        reason=f"bubblewrap is installed but cannot create a sandbox here ({detail}), so Bash "
        "runs without an OS sandbox, under the security policy alone.",
    )


def bash_argv(command: str, ctx: ToolContext) -> list[str]:
    """The argv that runs ``command`` for Bash: inside bubblewrap when asked and possible.

    Blocks on the first call (the probe); call it from a thread in async code.
    """
    plain = ["bash", "-c", command]
    strict = ctx.settings.isolation
    if strict is None and not ctx.settings.sandbox:
        return plain
    status = sandbox_status()
    if not status.available:
        if strict is not None:
            raise ToolError(f"this command may run only inside the sandbox, and {status.reason}")
        return plain
    bwrap = shutil.which("bwrap") or "bwrap"
    cwd = ctx.cwd.resolve()
    isolation = _isolation_args(
        writable=(ctx.workspace.resolve(), cwd),
        cwd=cwd,
        network=ctx.settings.sandbox_network and strict is None,
        strict=strict,
    )
    return [bwrap, *isolation, "--", *plain]


def _isolation_args(
    *, writable: tuple[Path, ...], cwd: Path, network: bool, strict: Isolation | None = None
) -> list[str]:
    args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    args += ["--tmpfs", "/run"]
    resolv = Path("/etc/resolv.conf").resolve()
    if network and resolv.is_relative_to("/run") and resolv.exists():
        args += ["--ro-bind", str(resolv), str(resolv)]  # systemd-resolved keeps DNS in /run
    if strict is not None:
        for folder in _outermost(strict.hidden):  # an empty, read-only folder in its place
            args += ["--tmpfs", str(folder), "--remount-ro", str(folder)]
        for folder in dict.fromkeys(p.resolve() for p in strict.read_only):
            if folder.is_dir():
                args += ["--ro-bind", str(folder), str(folder)]
    for folder in dict.fromkeys(writable):  # after the tmpfs mounts, so /tmp paths stay visible
        if folder.is_dir():
            args += ["--bind", str(folder), str(folder)]
    # Run as root, bwrap keeps every capability unless told otherwise, and with
    # CAP_SYS_ADMIN a command could simply remount "/" read-write.
    args += ["--cap-drop", "ALL"]
    args += [
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--die-with-parent",
        "--new-session",
    ]
    if not network:
        args.append("--unshare-net")
    args += ["--chdir", str(cwd)]
    return args


def _outermost(folders: tuple[Path, ...]) -> list[Path]:
    """The existing folders that are not inside another one of them."""
    found = sorted({p.resolve() for p in folders if p.is_dir()}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for folder in found:
        if not any(folder.is_relative_to(outer) for outer in kept):
            kept.append(folder)
    return kept
