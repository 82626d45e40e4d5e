"""The OS sandbox for Bash: bubblewrap, where it is installed and works.

Inside the sandbox the whole file system is read-only except the working
directory; llmos's own state (the workspace, every other project, any
``.llmos/`` folder, see :mod:`llmos.security.boundary`) and the home folder's
credentials (``~/.ssh``, ``~/.aws``, ``~/.netrc`` …) are not there at all
(masked by an empty folder or ``/dev/null``); ``/tmp``, ``/dev``, ``/proc`` and ``/run`` are
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
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llmos.config import Settings
from llmos.security.boundary import StateBoundary
from llmos.security.paths import CREDENTIAL_HOME_DIRS
from llmos.tools.base import ToolContext, ToolError

#: Set (to anything but "" or "0") to make llmos treat bubblewrap as absent: the CI
#: runs the security tests this way too, so the policy alone is tested.
NO_BWRAP_ENV = "LLMOS_NO_BWRAP"
#: Credential files directly in the home folder (folders are in CREDENTIAL_HOME_DIRS).
HOME_CREDENTIAL_FILES = (
    ".netrc",
    ".git-credentials",
    ".pgpass",
    ".my.cnf",
    ".npmrc",
    ".pypirc",
    ".boto",
    ".s3cfg",
    ".config/gh",
    ".env",
)

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
    if os.environ.get(NO_BWRAP_ENV, "") not in ("", "0"):
        return SandboxStatus(
            available=False,
            reason=f"bubblewrap is treated as absent ({NO_BWRAP_ENV} is set), so Bash runs "
            "without an OS sandbox, under the security policy alone.",
        )
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


@dataclass(frozen=True, slots=True)
class SandboxReport:
    """What ``llmos security sandbox`` and ``llmos providers`` show about the sandbox."""

    wanted: bool
    required: bool
    network: bool
    status: SandboxStatus

    @property
    def active(self) -> bool:
        return self.wanted and self.status.available

    @property
    def bash_runs(self) -> bool:
        return self.active or not self.required

    def line(self) -> str:
        if self.active:
            network = "network on" if self.network else "network off"
            return f"sandbox: on ({self.status.reason}; {network})"
        state = "off (tools.sandbox = false)" if not self.wanted else "unavailable"
        policy = (
            "Bash is refused (tools.require_sandbox = true)"
            if self.required
            else "Bash runs under the security policy alone"
        )
        detail = "" if not self.wanted else f": {self.status.reason.split(', so Bash')[0]}"
        return f"sandbox: {state}{detail}; {policy}"

    def as_dict(self) -> dict[str, object]:
        return {
            "sandbox": "on" if self.active else ("off" if not self.wanted else "unavailable"),
            "available": self.status.available,
            "reason": self.status.reason,
            "required": self.required,
            "network": self.network,
        }


def sandbox_report(settings: Settings) -> SandboxReport:
    """The sandbox as configured in ``settings`` and as found on this machine."""
    tools = settings.tools
    return SandboxReport(
        wanted=tools.sandbox,
        required=tools.require_sandbox,
        network=tools.sandbox_network,
        status=sandbox_status(),
    )


def _broken(detail: str) -> SandboxStatus:
    return SandboxStatus(
        available=False,
        reason=f"bubblewrap is installed but cannot create a sandbox here ({detail}), so Bash "
        "runs without an OS sandbox, under the security policy alone.",
    )


def bash_argv(command: str, ctx: ToolContext) -> list[str]:
    """The argv that runs ``command`` for Bash: inside bubblewrap when asked and possible.

    Blocks on the first call (the probe); call it from a thread in async code.

    Raises:
        ToolError: ``tools.require_sandbox`` is set and the sandbox cannot be used.
    """
    plain = ["bash", "-c", command]
    strict = ctx.isolation
    if strict is None and not sandbox_wanted(ctx):
        return plain
    if strict is not None and not (status := sandbox_status()).available:
        raise ToolError(f"this command may run only inside the sandbox, and {status.reason}")
        return plain
    bwrap = shutil.which("bwrap") or "bwrap"
    cwd = ctx.cwd.resolve()
    boundary = StateBoundary.of(workspace=ctx.workspace, workdir=cwd)
    hidden = [*boundary.hidden_in_sandbox(), *credential_paths(Path.home())]
    if strict is not None:
        hidden += [str(folder.resolve()) for folder in strict.hidden]
    isolation = _isolation_args(
        writable=(cwd,),
        hidden=hidden,
        read_only=strict.read_only if strict is not None else (),
        cwd=cwd,
        network=ctx.settings.sandbox_network and strict is None,
    )
    return [bwrap, *isolation, "--", *plain]


def sandbox_wanted(ctx: ToolContext) -> bool:
    """Whether this call runs in bubblewrap; refuse when the sandbox is required but missing."""
    settings = ctx.settings
    if settings.sandbox and sandbox_status().available:
        return True
    if settings.require_sandbox:
        why = (
            "tools.sandbox is off"
            if not settings.sandbox
            else sandbox_status().reason.split(", so Bash")[0]
        )
        raise ToolError(
            f"Bash needs the OS sandbox (tools.require_sandbox = true) but {why}; nothing was "
            "run. Install bubblewrap, or set tools.require_sandbox = false to run under the "
            "security policy alone."
        )
    return False


def credential_paths(home: Path) -> list[str]:
    """Credential folders and files of ``home`` that exist: absent inside the sandbox."""
    names = [*CREDENTIAL_HOME_DIRS, *HOME_CREDENTIAL_FILES]
    found = []
    for name in names:
        path = home / name
        if os.path.lexists(path):
            found.append(os.path.realpath(path))
    return found


def _isolation_args(
    *,
    writable: tuple[Path, ...],
    cwd: Path,
    network: bool,
    hidden: Sequence[str] = (),
    read_only: Sequence[Path] = (),
) -> list[str]:
    args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    args += ["--tmpfs", "/run"]
    resolv = Path("/etc/resolv.conf").resolve()
    if network and resolv.is_relative_to("/run") and resolv.exists():
        args += ["--ro-bind", str(resolv), str(resolv)]  # systemd-resolved keeps DNS in /run
    args += _layered_mounts(writable, hidden, read_only)
    # Run as root, bwrap keeps every capability unless told otherwise, and with
    # CAP_SYS_ADMIN a command could simply remount "/" read-write.
    args += ["--cap-drop", "ALL"]
    # No --new-session: the command must stay in the process group that Bash kills
    # on time-out and on cancel (a cancel while bwrap is still setting up would
    # otherwise orphan the sandboxed command). The terminal-injection risk that
    # --new-session guards against is not there: Bash starts bwrap in a session
    # of its own, with no controlling terminal and stdin from /dev/null.
    args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]
    if not network:
        args.append("--unshare-net")
    args += ["--chdir", str(cwd)]
    return args


def _layered_mounts(
    writable: Sequence[Path], hidden: Sequence[str], read_only: Sequence[Path] = ()
) -> list[str]:
    """Writable binds, read-only binds and masks, shallowest first, so a deeper one wins.

    The workspace is masked even though the working directory lies inside it
    (today's ``workspace/output``): the mask comes first, then the working
    directory is bound back on top. A ``.llmos/`` folder or a workspace inside
    the working directory is masked after the bind, so it stays absent.
    Folders are masked with an empty, read-only tmpfs, files with ``/dev/null``.
    """
    layers: list[tuple[int, int, list[str]]] = []
    masks: list[str] = []
    for folder in dict.fromkeys(writable):
        if folder.is_dir():
            layers.append((len(folder.parts), 2, ["--bind", str(folder), str(folder)]))
    for folder in dict.fromkeys(p.resolve() for p in read_only):  # decoys over masked state
        if folder.is_dir():
            layers.append((len(folder.parts), 1, ["--ro-bind", str(folder), str(folder)]))
    for path in dict.fromkeys(hidden):
        if os.path.isdir(path):
            mount = ["--tmpfs", path]
            masks.append(path)
        elif os.path.exists(path):
            mount = ["--ro-bind", "/dev/null", path]
        else:
            continue  # a dangling link: nothing to read through it
        depth = len(Path(path).parts)
        layers.append((depth, 0, mount))
    ordered = [arg for _, _, mount in sorted(layers, key=lambda x: (x[0], x[1])) for arg in mount]
    # Read-only once every bind is in place, so a write there fails as on the host.
    return ordered + [arg for path in masks for arg in ("--remount-ro", path)]
