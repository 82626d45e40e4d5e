"""Where a path points, and whether reading, writing or deleting it is allowed.

Every path is resolved the way the kernel would (relative to the working
directory, ``..`` climbed, symlinks followed) and then placed in a
:class:`Zone`. The rules are few: the agent may do anything strictly inside
the working directory except touch llmos's own state (config, hooks, memory,
ledger …, see :mod:`llmos.security.boundary`),
may use scratch space in the temp folders, may read most of the system, and
may never read credentials nor write system, device, start-up or credential
files.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Literal

from llmos.security.boundary import StateBoundary
from llmos.security.verdict import ALLOWED, Verdict, deny


class Zone(Enum):
    """Where a resolved path lies, from the policy's point of view."""

    INSIDE = "inside the working directory"
    KERNEL = "llmos's own state"
    CONTAINS_WORKSPACE = "a folder that contains the working directory or llmos's state"
    TEMP = "a temporary folder"
    TEMP_ROOT = "a shared temporary folder itself"
    SAFE_DEVICE = "a harmless device"
    SOCKET = "a network socket"
    DEVICE = "a device"
    SYSTEM = "a system location"
    CREDENTIAL = "a credential file"
    STARTUP = "a start-up or configuration file in the home folder"
    HOME = "the home folder, outside the working directory"
    OUTSIDE = "outside the working directory"


SAFE_DEVICES = frozenset(
    {
        "/dev/null",
        "/dev/zero",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/tty",
        "/dev/random",
        "/dev/urandom",
        "/dev/full",
    }
)
SAFE_DEVICE_DIRS = ("/dev/fd/", "/dev/pts/")
TEMP_ROOTS = ("/tmp", "/var/tmp", "/dev/shm")
SYSTEM_ROOTS = (
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/boot",
    "/sys",
    "/proc",
    "/var",
    "/opt",
    "/srv",
    "/snap",
    "/run",
    "/lost+found",
)
#: Home-relative folders whose every file is a secret (``.pub`` keys excepted).
CREDENTIAL_HOME_DIRS = (
    ".ssh",
    ".aws",
    ".gnupg",
    ".azure",
    ".kube",
    ".docker",
    ".password-store",
    ".config/gcloud",
    ".config/gh",
    ".config/hub",
    ".local/share/keyrings",
    ".mozilla",
    ".config/google-chrome",
    ".config/chromium",
    ".terraform.d",
    ".vault-token",
    ".gem/credentials",
    ".bash_history",
    ".zsh_history",
    ".python_history",
    ".psql_history",
    ".mysql_history",
    ".node_repl_history",
    ".local/share/fish/fish_history",
    ".config/rclone",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".config/op",
    ".config/doctl",
    ".config/heroku",
)
#: File names that hold secrets wherever they are (outside the workspace).
CREDENTIAL_NAMES = (
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "id_ecdsa_sk",
    "id_ed25519_sk",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".git-credentials",
    ".my.cnf",
    ".npmrc",
    ".pypirc",
    ".boto",
    ".s3cfg",
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "credentials",
    "credentials.json",
    "*.kdbx",
    ".htpasswd",
)
#: Secret-looking names even inside the workspace: reading is fine, uploading is not.
SECRET_NAMES = (*CREDENTIAL_NAMES, "*.pem", "*.key", "*.p12", "*.pfx", "secrets.*")
CREDENTIAL_SYSTEM = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/security/opasswd",
    "/root",
    "/var/run/secrets",
    "/run/secrets",
    "/etc/ssl/private",
)
CREDENTIAL_SYSTEM_GLOBS = ("/etc/ssh/ssh_host_*_key", "/proc/*/environ", "/proc/*/mem")
STARTUP_HOME = (
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".bash_aliases",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".cshrc",
    ".tcshrc",
    ".config/fish",
    ".config/autostart",
    ".config/systemd",
    ".config/environment.d",
    ".local/bin",
    ".gitconfig",
    ".config/git",
    ".xinitrc",
    ".xprofile",
    ".xsession",
    ".pam_environment",
    ".inputrc",
    ".vimrc",
    ".config/pip",
    ".pip",
    ".curlrc",
    ".wgetrc",
    ".ssh/authorized_keys",
    ".ssh/rc",
    ".ssh/config",
    ".crontab",
)


_PROC_CWD = re.compile(r"/+proc/+(?:self|thread-self|\d+)/+cwd(?=/|$)")


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _matches_any(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def is_secret_name(path: str) -> bool:
    """Whether a file's name alone says it holds secrets (``.env``, ``id_rsa``, ``*.pem`` …)."""
    name = PurePosixPath(path).name
    return _matches_any(name, SECRET_NAMES) and not name.endswith((".example", ".sample"))


@dataclass(slots=True)
class Places:
    """The folders every judgement is made against, resolved once per command line.

    ``workdir`` is the task's working directory, the only folder it may
    change; ``boundary`` says which paths are llmos state (never changed,
    whatever the working directory). ``links`` holds symlinks the line itself
    creates (``ln -s / r``), which do not exist yet when it is judged.
    """

    workdir: str
    home: str
    boundary: StateBoundary
    links: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, workspace: Path, home: Path | None, *, workdir: Path | None = None) -> Places:
        """Places for a task in ``workdir`` (default: the workspace root itself)."""
        folder = workspace if workdir is None else workdir
        return cls(
            workdir=os.path.realpath(folder),
            home=os.path.realpath(home if home is not None else Path.home()),
            boundary=StateBoundary.of(workspace=workspace, workdir=folder),
        )

    def resolve(self, text: str, cwd: str) -> str:
        """Absolute, normalised, symlinks followed (``~`` must already be expanded)."""
        joined = os.path.join(cwd, text)
        own_cwd = _PROC_CWD.match(joined)
        if own_cwd:  # the process's own folder: the one this command runs in
            joined = os.path.join(cwd, joined[own_cwd.end() :].lstrip("/"))
        lexical = os.path.normpath(joined)
        if lexical.startswith("/dev/") or lexical.startswith("//dev/"):
            return lexical  # /dev/stdout resolves to a pts; judge the name given
        resolved = os.path.realpath(joined)
        for link, target in self.links.items():
            if _under(resolved, link):
                return os.path.normpath(target + resolved[len(link) :])
        return resolved

    def zone(self, path: str, *, containing: bool = True) -> Zone:
        """The zone of an absolute, resolved path.

        With ``containing=False`` a folder that contains the working directory
        is placed as if it did not (for patterns that miss it).
        """
        if path.startswith("/dev/") or path == "/dev":
            return self._device_zone(path)
        if self.boundary.is_secret(path):
            return Zone.CREDENTIAL
        if self.boundary.is_state(path):
            return Zone.KERNEL
        workdir = self.workdir
        if path != workdir and _under(path, workdir):
            return Zone.INSIDE
        if path == workdir and not self.boundary.entries_below(workdir):
            return Zone.INSIDE  # the task's own folder, with no llmos state in it
        if containing and (_under(workdir, path) or _under(self.boundary.workspace, path)):
            return Zone.CONTAINS_WORKSPACE
        if path == self.home:
            return Zone.HOME
        if self._is_credential(path):
            return Zone.CREDENTIAL
        if _under(path, self.home):
            rel = path[len(self.home) :].lstrip("/")
            if any(_under(rel, startup) for startup in STARTUP_HOME):
                return Zone.STARTUP
            return Zone.HOME
        for root in TEMP_ROOTS:
            if path == root:
                return Zone.TEMP_ROOT
            if _under(path, root) and not _under(path, _top_below(workdir, root)):
                return Zone.TEMP
        if any(_under(path, root) for root in SYSTEM_ROOTS):
            return Zone.SYSTEM
        return Zone.OUTSIDE

    def _device_zone(self, path: str) -> Zone:
        if path in SAFE_DEVICES or path.startswith(SAFE_DEVICE_DIRS):
            return Zone.SAFE_DEVICE
        if path.startswith(("/dev/tcp/", "/dev/udp/")):
            return Zone.SOCKET
        if path.startswith("/dev/shm/"):
            return Zone.TEMP
        if path == "/dev/shm":
            return Zone.TEMP_ROOT
        return Zone.DEVICE

    def _is_credential(self, path: str) -> bool:
        if any(
            _under(path, secret) for secret in CREDENTIAL_SYSTEM if not _under(self.home, secret)
        ):  # root's home is judged as a home
            return True
        if _matches_any(path, CREDENTIAL_SYSTEM_GLOBS):
            return True
        name = PurePosixPath(path).name
        if _under(path, self.home):
            rel = path[len(self.home) :].lstrip("/")
            for folder in CREDENTIAL_HOME_DIRS:
                if _under(rel, folder) and not name.endswith(".pub"):
                    return True
        return _matches_any(name, CREDENTIAL_NAMES) and not name.endswith((".example", ".sample"))

    def kernel_entries_matching(self, folder: str, pattern: str) -> list[str]:
        """llmos state entries directly in ``folder`` that a glob ``pattern`` would hit."""
        return [
            name
            for name in self.boundary.entries_in(folder)
            if fnmatch.fnmatchcase(name, pattern)
            and (pattern.startswith(".") or not name.startswith("."))  # bash skips dot names
        ]


Operation = Literal["read", "write", "delete"]

_DELETE_OK = {Zone.INSIDE, Zone.TEMP}
_WRITE_OK = {Zone.INSIDE, Zone.TEMP, Zone.SAFE_DEVICE}


def why_not(places: Places, path: str, op: Operation, zone: Zone | None = None) -> str | None:
    """The reason ``op`` on the resolved ``path`` is refused, or ``None`` if it is fine."""
    zone = places.zone(path) if zone is None else zone
    if op == "read":
        if zone is Zone.CREDENTIAL:
            return f"reads {path}, a credential file; secrets must not reach the model"
        return None
    allowed = _DELETE_OK if op == "delete" else _WRITE_OK
    if zone in allowed:
        return None
    verb = "deletes" if op == "delete" else "writes"
    match zone:
        case Zone.KERNEL:
            return f"{verb} {path}, which is llmos's own state (memory, ledger, hooks, settings)"
        case Zone.CONTAINS_WORKSPACE:
            inner = places.workdir if _under(places.workdir, path) else places.boundary.workspace
            what = "the working directory" if inner == places.workdir else "llmos's state"
            return f"{verb} {path}, which contains {what} {inner}"
        case Zone.DEVICE:
            return f"{verb} the device {path}: this destroys a disk or the system"
        case Zone.SOCKET:
            return f"{verb} to the network socket {path} (a reverse-shell pattern)"
        case _:
            return f"{verb} {path}, {zone.value}; only paths inside {places.workdir} may change"


def judge_path(
    tool: str,
    path: str,
    *,
    op: Literal["read", "write"],
    cwd: Path,
    workspace: Path,
    home: Path | None = None,
) -> Verdict:
    """Judge a file tool's path: confined to the workspace, credentials never read.

    Example:
        >>> judge_path("Read", "~/.ssh/id_rsa", op="read", cwd=ws, workspace=ws).decision
        'deny'
    """
    subject = f"{tool} {path}"
    if not path:
        return deny("the path is empty", subject)
    if "\x00" in path:
        return deny("the path contains a NUL byte", subject)
    places = Places.of(workspace, home, workdir=cwd)
    text = places.home + path[1:] if path == "~" or path.startswith("~/") else path
    resolved = places.resolve(text, places.workdir)
    zone = places.zone(resolved)
    if zone is Zone.CREDENTIAL:
        return deny(
            f"{path} resolves to {resolved}, a credential file; it must not be read "
            "or changed by an agent",
            subject,
        )
    if zone is Zone.KERNEL and op == "write":
        return deny(
            f"{path} resolves to {resolved}, llmos's own state; change it through llmos, "
            "not a file tool",
            subject,
        )
    if zone not in (Zone.INSIDE, Zone.KERNEL) and not (op == "read" and resolved == places.workdir):
        return deny(
            f"{path} resolves to {resolved}, outside the working directory "
            f"{places.workdir}; use a path inside it",
            subject,
        )
    return ALLOWED


def _top_below(workdir: str, temp_root: str) -> str:
    """The folder right below ``temp_root`` that holds the working directory, or "".

    A project kept under ``/tmp`` (``/tmp/ci/proj``) is the user's, not scratch:
    only the rest of the temporary folder is free to write.
    """
    if not _under(workdir, temp_root) or workdir == temp_root:
        return "\0"  # matches no path
    rest = workdir[len(temp_root.rstrip("/")) + 1 :]
    return os.path.join(temp_root, rest.split("/", 1)[0])
