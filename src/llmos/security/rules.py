"""Per-program rules: what each dangerous program does to files and to the machine.

Each rule gets the :class:`Judge` (the places and the path checks) and one
simple command, and returns a :class:`Verdict` when it refuses or asks, or
``None``. Rules look at options the way the program parses them
(``rm -r -f``, ``rm -fr``, ``rm --recursive``), never at substrings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Protocol

from llmos.security.command import SimpleCommand
from llmos.security.embedded import GIT_COMMAND_KEYS
from llmos.security.paths import Operation, Places, Zone, is_secret_name
from llmos.security.programs import find_name_pattern, find_roots, join_path
from llmos.security.targets import Target, check, check_target
from llmos.security.verdict import Verdict, ask, deny
from llmos.security.words import Arg


class Judge(Protocol):
    places: Places

    def path(self, command: SimpleCommand, arg: Arg, op: Operation) -> Verdict | None: ...


Rule = Callable[[Judge, SimpleCommand], Verdict | None]
RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn

    return register


def options_and_operands(
    args: Sequence[Arg], with_value: frozenset[str] = frozenset()
) -> tuple[list[str], list[Arg]]:
    """Split argv[1:] into option texts and operands (``--`` ends the options)."""
    options: list[str] = []
    operands: list[Arg] = []
    i, ended = 1, False
    while i < len(args):
        arg = args[i]
        text = arg.text
        if not ended and text == "--":
            ended = True
        elif not ended and text is not None and text.startswith("-") and text != "-":
            options.append(text)
            if text in with_value and i + 1 < len(args):
                options.append(args[i + 1].text or "")
                i += 1
        else:
            operands.append(arg)
        i += 1
    return options, operands


def has_short(options: Sequence[str], letters: str, longs: Sequence[str] = ()) -> bool:
    """Whether any option sets one of ``letters`` (in a cluster like ``-rf``) or a long form."""
    for option in options:
        if option.startswith("--"):
            if option.split("=")[0] in longs:
                return True
        elif any(letter in option[1:] for letter in letters):
            return True
    return False


def first(verdicts: Iterator[Verdict | None]) -> Verdict | None:
    return next((v for v in verdicts if v is not None), None)


# -- deletion ------------------------------------------------------------------------------


@rule("rm", "unlink", "srm", "shred", "wipe")
def _rm(judge: Judge, command: SimpleCommand) -> Verdict | None:
    options, operands = options_and_operands(
        command.args, frozenset({"-n", "-s", "--iterations", "--size"})
    )
    if "--no-preserve-root" in options:
        return deny("rm --no-preserve-root exists only to delete /", command.text)
    return first(judge.path(command, target, "delete") for target in operands)


@rule("find")
def _find(judge: Judge, command: SimpleCommand) -> Verdict | None:
    texts = [a.text for a in command.args]
    if "-delete" not in texts:
        return None
    pattern = find_name_pattern(command.args)
    filtered = pattern is not None or any(
        t in texts for t in ("-path", "-regex", "-newer", "-mtime", "-mmin", "-size")
    )
    for root in find_roots(command.args):
        if root.text is None or command.cwd is None:
            return deny("find -delete from a folder that cannot be known here", command.text)
        base = judge.places.resolve(root.text, command.cwd)
        target = Target(base, "some", pattern or "*") if filtered else Target(base)
        reason = check_target(judge.places, target, "delete")
        if reason is not None:
            return deny(f"find -delete {reason}", command.text)
    return None


@rule("mv")
def _mv(judge: Judge, command: SimpleCommand) -> Verdict | None:
    _, operands = options_and_operands(command.args, frozenset({"-t", "-S", "--suffix"}))
    destination = _target_directory(command.args)
    sources = operands if destination is not None else operands[:-1]
    if destination is None and operands:
        destination = operands[-1]
    if destination is not None and len(sources) == 1:
        destination = _into_folder(destination, sources[0], command.cwd)
    return first(judge.path(command, s, "delete") for s in sources) or (
        judge.path(command, destination, "write") if destination is not None else None
    )


@rule("cp", "install", "ln", "rsync", "scp", "sftp")
def _copy(judge: Judge, command: SimpleCommand) -> Verdict | None:
    options, operands = options_and_operands(
        command.args,
        frozenset(
            {"-t", "-S", "-m", "-o", "-g", "-e", "-P", "-i", "-F", "--rsh", "--suffix", "--mode"}
        ),
    )
    destination = _target_directory(command.args)
    sources = operands if destination is not None else operands[:-1]
    if destination is None and operands:
        destination = operands[-1]
    local_sources = [s for s in sources if not _is_remote(s)]
    if destination is not None and len(local_sources) == 1:
        destination = _into_folder(destination, local_sources[0], command.cwd)
    if command.name != "ln":
        verdict = first(
            judge.path(command, s, "read") or reads_home(judge, command, s) for s in local_sources
        )
        if verdict is not None:
            return verdict
    if _hard_links(command.name or "", options):
        # A hard link is the file itself: writing it later writes the source, wherever it is.
        verdict = first(judge.path(command, s, "write") for s in local_sources)
        if verdict is not None:
            return replace(verdict, reason=f"hard link: {verdict.reason}")
    if destination is None:
        return None
    if _is_remote(destination):
        secret = next((s.text for s in local_sources if s.text and is_secret_name(s.text)), None)
        if secret:
            return deny(f"sends {secret}, a secrets file, to another machine", command.text)
        return None
    if "--remove-source-files" in options:
        verdict = first(judge.path(command, s, "delete") for s in local_sources)
        if verdict is not None:
            return verdict
    if any(o.startswith("--delete") for o in options) and destination.text is not None:
        reason = check(
            judge.places, Arg(destination.text.rstrip("/") + "/*", glob=True), command.cwd, "delete"
        )
        if reason is not None:
            return deny(f"rsync --delete {reason}", command.text)
    return judge.path(command, destination, "write")


def _hard_links(name: str, options: Sequence[str]) -> bool:
    if name == "ln":
        return not has_short(options, "s", ("--symbolic",))
    return name == "cp" and has_short(options, "l", ("--link",))


def _target_directory(args: Sequence[Arg]) -> Arg | None:
    for i, arg in enumerate(args):
        if arg.text in ("-t", "--target-directory") and i + 1 < len(args):
            return args[i + 1]
        if arg.text and arg.text.startswith("--target-directory="):
            return Arg(arg.text.partition("=")[2])
    return None


def _into_folder(destination: Arg, source: Arg, cwd: str | None) -> Arg:
    """``cp a.txt /tmp/`` writes ``/tmp/a.txt``: judge that, not the folder."""
    dest, src = destination.text, source.text
    if dest is None or src is None or cwd is None or destination.glob:
        return destination
    if dest.endswith("/") or os.path.isdir(os.path.join(cwd, dest)):
        name = os.path.basename(src.rstrip("/"))
        if name and name not in (".", ".."):
            path = dest.rstrip("/") + "/" + name
            return Arg(path, path)
    return destination


def _is_remote(arg: Arg) -> bool:
    text = arg.text or ""
    return bool(re.match(r"^([\w.-]+@)?[\w.-]+:(?!//)", text)) or text.startswith(
        ("rsync://", "s3://", "gs://")
    )


# -- writes ---------------------------------------------------------------------------------


@rule("tee", "touch", "truncate", "mkdir")
def _writes(judge: Judge, command: SimpleCommand) -> Verdict | None:
    _, operands = options_and_operands(
        command.args, frozenset({"-s", "-r", "-m", "--size", "--reference", "--mode"})
    )
    return first(judge.path(command, target, "write") for target in operands)


@rule("sed", "perl")
def _in_place(judge: Judge, command: SimpleCommand) -> Verdict | None:
    options, operands = options_and_operands(command.args, frozenset({"-e", "-f", "-E"}))
    in_place = any(
        o.startswith(("-i", "--in-place"))
        or (command.name == "perl" and "i" in o[1:] and not o.startswith("--"))
        for o in options
    )
    scripted = any(o in ("-e", "-f", "-E") or o.startswith("--expression") for o in options)
    files = operands if scripted else operands[1:]
    op: Operation = "write" if in_place else "read"
    return first(judge.path(command, f, op) for f in files)


@rule("dd")
def _dd(judge: Judge, command: SimpleCommand) -> Verdict | None:
    for arg in command.args[1:]:
        if arg.text is None and arg.prefix.startswith("of="):
            return deny("dd writes to a file or device that cannot be known here", command.text)
        text = arg.text or ""
        operations: tuple[tuple[str, Operation], ...] = (("of=", "write"), ("if=", "read"))
        for key, op in operations:
            if text.startswith(key):
                verdict = judge.path(command, Arg(text[3:], text[3:], arg.glob), op)
                if verdict is not None:
                    return verdict
    return None


@rule(
    "mkfs",
    "mke2fs",
    "mkswap",
    "wipefs",
    "fdisk",
    "sfdisk",
    "cfdisk",
    "gdisk",
    "sgdisk",
    "parted",
    "blkdiscard",
    "hdparm",
    "badblocks",
    "cryptsetup",
    "mdadm",
    "pvremove",
    "vgremove",
    "lvremove",
    "zpool",
    "losetup",
    "format",
)
def _disk(judge: Judge, command: SimpleCommand) -> Verdict | None:
    options, operands = options_and_operands(
        command.args, frozenset({"-t", "-L", "-b", "-n", "-o", "-s"})
    )
    if any(o in ("-l", "--list") for o in options) or not operands:
        return None
    for operand in operands:
        if operand.text is None:
            return deny(f"{command.name} on a device that cannot be known here", command.text)
        if operand.text.startswith("/dev/"):
            return deny(f"{command.name} on {operand.text} destroys a disk's data", command.text)
    return first(
        judge.path(command, operand, "write")
        for operand in operands
        if "/" in (operand.text or "") or (command.name or "").startswith("mk")
    )


@rule("chmod", "chown", "chgrp", "setfacl", "chattr")
def _permissions(judge: Judge, command: SimpleCommand) -> Verdict | None:
    options, operands = options_and_operands(command.args, frozenset({"--reference"}))
    if not operands:
        return None
    mode = operands[0].text or ""
    if command.name == "chmod" and (
        re.search(r"[ugoa]*[+=][rwxXt]*s", mode) or re.fullmatch(r"0*[2-7][0-7]{3}", mode)
    ):
        return deny(f"chmod {mode} sets the setuid/setgid bit: privilege escalation", command.text)
    recursive = has_short(options, "R", ("--recursive",))
    for target in operands[1:]:
        reason = check(judge.places, target, command.cwd, "delete" if recursive else "write")
        if reason is not None:
            what = "recursive permission change" if recursive else "permission change"
            return deny(f"{what}: {reason.replace('deletes', 'changes', 1)}", command.text)
    return None


@rule("tar", "unzip", "7z", "bsdtar", "zip")
def _archives(judge: Judge, command: SimpleCommand) -> Verdict | None:
    texts = [a.text or "" for a in command.args]
    reader = command
    for flag in ("-C", "--directory", "-d"):
        if flag in texts[1:] and texts.index(flag) + 1 < len(texts):
            target = command.args[texts.index(flag) + 1]
            verdict = judge.path(command, target, "write")
            if verdict is not None:
                return verdict
            if flag != "-d" and target.text is not None and command.cwd is not None:
                reader = replace(command, cwd=join_path(command.cwd, target.text))
    _, operands = options_and_operands(
        command.args,
        frozenset(
            {"-f", "-C", "-d", "--file", "-x", "-i", "-TT", "-b", "-n", "-t", "-P", "-Z", "-I"}
        ),
    )
    op: Operation = "delete" if "--remove-files" in texts else "read"
    return first(judge.path(reader, f, op) or reads_home(judge, reader, f) for f in operands)


@rule("grep", "egrep", "fgrep", "rg", "ag", "ack")
def _search(judge: Judge, command: SimpleCommand) -> Verdict | None:
    options, operands = options_and_operands(
        command.args, frozenset({"-e", "-f", "-m", "-A", "-B", "-C", "-g", "-t"})
    )
    recursive = command.name in ("rg", "ag", "ack") or has_short(
        options, "rR", ("--recursive", "--dereference-recursive")
    )
    if not recursive:
        return None
    paths = (
        operands
        if any(o in ("-e", "-f") or o.startswith("--regexp") for o in options)
        else operands[1:]
    )
    return first(reads_home(judge, command, p) for p in paths)


def reads_home(judge: Judge, command: SimpleCommand, arg: Arg) -> Verdict | None:
    """Copying or searching a whole home folder reads the credentials in it."""
    if arg.text is None or command.cwd is None:
        return None
    path = judge.places.resolve(arg.text, command.cwd)
    home = judge.places.home
    if home == path or home.startswith(path.rstrip("/") + "/"):
        return deny(
            f"reads all of {path}, which holds the home folder's credentials (~/.ssh, ~/.aws …)",
            command.text,
        )
    return None


# -- the machine ------------------------------------------------------------------------------

_POWER_VERBS = frozenset(
    {
        "poweroff",
        "reboot",
        "halt",
        "kexec",
        "suspend",
        "hibernate",
        "hybrid-sleep",
        "rescue",
        "emergency",
        "isolate",
        "default",
        "soft-reboot",
    }
)


@rule("shutdown", "reboot", "halt", "poweroff", "kexec")
def _power(judge: Judge, command: SimpleCommand) -> Verdict | None:
    if "-c" in [a.text for a in command.args]:
        return None
    return deny(f"{command.name} turns the machine off or restarts it", command.text)


@rule("init", "telinit")
def _init(judge: Judge, command: SimpleCommand) -> Verdict | None:
    level = command.args[1].text if len(command.args) > 1 else None
    if level in ("0", "1", "6", "s", "S", "single", None):
        return deny(
            f"{command.name} {level or ''} changes the runlevel (off, reboot, single user)",
            command.text,
        )
    return None


@rule("systemctl", "loginctl")
def _systemctl(judge: Judge, command: SimpleCommand) -> Verdict | None:
    verbs = {a.text for a in command.args[1:] if a.text and not a.text.startswith("-")}
    if verbs & _POWER_VERBS:
        return deny(
            f"{command.name} {' '.join(sorted(verbs & _POWER_VERBS))} turns the machine "
            "off, restarts or isolates it",
            command.text,
        )
    return None


@rule("dbus-send", "busctl", "gdbus", "qdbus")
def _dbus(judge: Judge, command: SimpleCommand) -> Verdict | None:
    methods = ("PowerOff", "Reboot", "Halt", "KExec", "Suspend", "Hibernate")
    if any(any(m in (a.text or "") for m in methods) for a in command.args[1:]):
        return deny(f"{command.name} asks the system to power off or restart", command.text)
    return None


@rule("machinectl")
def _machinectl(judge: Judge, command: SimpleCommand) -> Verdict | None:
    verbs = {a.text for a in command.args[1:]}
    if verbs & {"shell", "login"}:
        return deny(
            "privilege escalation: machinectl shell opens a session as another user", command.text
        )
    return None


@rule("kill")
def _kill(judge: Judge, command: SimpleCommand) -> Verdict | None:
    args = [a.text for a in command.args[1:]]
    pids: list[str | None] = []
    i = 0
    while i < len(args):
        text = args[i]
        if text in ("-s", "-n", "--signal"):
            i += 2
            continue
        if i == 0 and text is not None and text.startswith("-") and text not in ("-1", "--"):
            i += 1
            continue
        if text != "--":
            pids.append(text)
        i += 1
    if "-1" in pids or "1" in pids:
        return deny("kill -1 (or pid 1) kills every process you can reach", command.text)
    return None


@rule("killall5")
def _killall5(judge: Judge, command: SimpleCommand) -> Verdict | None:
    return deny("killall5 kills every process", command.text)


@rule("pkill", "killall", "pgrep")
def _pkill(judge: Judge, command: SimpleCommand) -> Verdict | None:
    if command.name == "pgrep":
        return None
    options, operands = options_and_operands(
        command.args, frozenset({"-u", "-U", "-g", "-G", "-s", "-t", "-P", "--signal", "-o", "-y"})
    )
    if any(
        o in ("-u", "-U", "--user", "-g", "-G") or o.startswith(("--user", "-u")) for o in options
    ):
        return deny(f"{command.name} -u kills every process of a user", command.text)
    patterns = [o.text for o in operands]
    if any(p in (".", ".*", "", "^", "$", "*") for p in patterns) or (
        not patterns and any(o in ("-r", "--regexp") for o in options)
    ):
        return deny(f"{command.name} with a pattern that matches every process", command.text)
    return None


_PRIVILEGE = {
    "sudo": "sudo runs a command as root",
    "su": "su switches to another user",
    "doas": "doas runs a command as root",
    "pkexec": "pkexec runs a command as root",
    "runuser": "runuser runs a command as another user",
    "sudoedit": "sudoedit",
    "chroot": "chroot needs root",
    "setcap": "setcap grants capabilities",
    "visudo": "visudo edits the sudoers file",
    "useradd": "useradd creates users",
    "usermod": "usermod changes accounts",
    "userdel": "userdel deletes users",
    "groupadd": "groupadd",
    "passwd": "passwd changes passwords",
    "chpasswd": "chpasswd changes passwords",
    "chsh": "chsh changes login shells",
    "adduser": "adduser creates users",
    "deluser": "deluser deletes users",
    "gpasswd": "gpasswd changes groups",
    "newgrp": "newgrp",
    "sg": "sg",
    "run0": "run0 runs a command as root",
}


def _privilege(judge: Judge, command: SimpleCommand) -> Verdict | None:
    what = _PRIVILEGE[command.name or ""]
    return deny(f"privilege escalation: {what}; an agent runs as an ordinary user", command.text)


for _name in _PRIVILEGE:
    RULES[_name] = _privilege


@rule("crontab", "at", "batch")
def _crontab(judge: Judge, command: SimpleCommand) -> Verdict | None:
    texts = [a.text for a in command.args[1:]]
    if command.name == "crontab" and texts and set(texts) <= {"-l", "-u"} | set(texts[1:2]):
        return None
    return deny(
        f"{command.name} installs or removes scheduled jobs that outlive the task", command.text
    )


@rule("nc", "ncat", "netcat", "socat", "telnet")
def _netcat(judge: Judge, command: SimpleCommand) -> Verdict | None:
    texts = [a.text or "" for a in command.args[1:]]
    if any(
        t in ("-e", "-c", "--exec", "--sh-exec", "--lua-exec") or re.match(r"^-\w*e$", t)
        for t in texts
    ) or any(re.match(r"(?i)^(exec|system):", t) for t in texts):
        return deny(f"reverse shell: {command.name} hands a shell to a network peer", command.text)
    return None


@rule("git")
def _git(judge: Judge, command: SimpleCommand) -> Verdict | None:
    args = list(command.args[1:])
    cwd = command.cwd
    while len(args) >= 2 and args[0].text in ("-C", "-c", "--git-dir", "--work-tree"):
        if args[0].text == "-C":
            cwd = None if args[1].text is None or cwd is None else join_path(cwd, args[1].text)
        args = args[2:]
    texts = [a.text or "" for a in args]
    if not texts:
        return None
    if (
        texts[0] == "clean"
        and not has_short(texts[1:], "n", ("--dry-run",))
        and has_short([t for t in texts[1:] if t.startswith("-")], "f", ("--force",))
    ):
        if cwd is None:
            return deny("git clean in a folder that cannot be known here", command.text)
        reason = check_target(
            judge.places, Target(judge.places.resolve(".", cwd), "some", "*"), "delete"
        )
        if reason is not None:
            return deny(f"git clean {reason}", command.text)
    if texts[0] == "push" and (
        has_short([t for t in texts[1:] if t.startswith("-") and not t.startswith("--")], "f")
        or any(t.startswith(("--force", "--mirror")) for t in texts)
        or any(t.startswith("+") for t in texts[1:])
    ):
        return ask(
            "git push --force rewrites the remote's history; a person should approve it",
            command.text,
        )
    if texts[0] == "config" and "--system" in texts:
        return deny("git config --system writes /etc/gitconfig", command.text)
    if texts[0] == "config" and "--global" in texts:
        key = next((t for t in texts[1:] if not t.startswith("-")), "")
        if key.lower().startswith(GIT_COMMAND_KEYS):
            return deny(
                f"git config --global {key} makes every git command run a program", command.text
            )
    return None


@rule("sqlite3")
def _sqlite(judge: Judge, command: SimpleCommand) -> Verdict | None:
    options, operands = options_and_operands(command.args, frozenset({"-cmd", "-separator"}))
    if not operands or "-readonly" in options or operands[0].text is None or command.cwd is None:
        return None
    database = judge.places.resolve(operands[0].text, command.cwd)
    if judge.places.zone(database) is Zone.KERNEL:
        return deny(
            f"sqlite3 opens {database}, llmos's own state, for writing; add -readonly to only look",
            command.text,
        )
    return None


_INSTALL_VERBS = frozenset(
    {
        "install",
        "remove",
        "purge",
        "upgrade",
        "dist-upgrade",
        "autoremove",
        "reinstall",
        "erase",
        "add",
        "del",
        "uninstall",
    }
)


@rule(
    "apt",
    "apt-get",
    "aptitude",
    "dnf",
    "yum",
    "zypper",
    "pacman",
    "apk",
    "brew",
    "snap",
    "port",
    "emerge",
)
def _system_packages(judge: Judge, command: SimpleCommand) -> Verdict | None:
    texts = {a.text for a in command.args[1:]}
    if texts & _INSTALL_VERBS or any((t or "").startswith("-S") for t in texts):
        return ask(
            f"{command.name} changes the system's packages; a person should approve it",
            command.text,
        )
    return None


@rule("npm", "pnpm", "yarn", "pip", "pip3", "gem")
def _global_packages(judge: Judge, command: SimpleCommand) -> Verdict | None:
    texts = [a.text or "" for a in command.args[1:]]
    global_install = (
        (
            any(t in ("-g", "--global", "--location=global") for t in texts)
            and any(t in ("install", "i", "add", "uninstall", "remove") for t in texts)
        )
        or (command.name == "yarn" and texts[:1] == ["global"])
        or ("--break-system-packages" in texts)
    )
    if global_install:
        return ask(
            f"{command.name} installs packages for the whole system or user, outside the "
            "workspace; a person should approve it",
            command.text,
        )
    return None


@rule("docker", "podman")
def _containers(judge: Judge, command: SimpleCommand) -> Verdict | None:
    texts = [a.text or "" for a in command.args[1:]]
    for i, text in enumerate(texts):
        value = texts[i + 1] if i + 1 < len(texts) else ""
        if text == "--privileged" or text in ("--pid=host", "--net=host", "--network=host"):
            return deny(
                f"{command.name} {text} gives the container the host: privilege escalation",
                command.text,
            )
        mount = (
            text.partition("=")[2]
            if text.startswith(("--volume=", "-v="))
            else (value if text in ("-v", "--volume") else "")
        )
        if mount.startswith("/:") or "docker.sock" in mount:
            return deny(
                f"{command.name} mounts {mount.split(':')[0]} into a container: "
                "privilege escalation",
                command.text,
            )
    return None
