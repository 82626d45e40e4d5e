"""Command lines hidden in options: programs that run a string through a shell.

``ssh -o ProxyCommand=…``, ``git -c core.sshCommand=…``, ``rsync -e …``,
``tar --to-command=…``, ``zip -TT …``, ``vim -c '!…'`` and ``trap '…' EXIT``
all run their string locally; :func:`embedded_commands` returns those
strings so they are parsed and judged like any other command line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from llmos.security.words import Arg

#: Program → options whose value is a command line.
_COMMAND_OPTIONS: dict[str, tuple[str, ...]] = {
    "rsync": ("-e", "--rsh", "--rsync-path"),
    "tar": (
        "--to-command",
        "--use-compress-program",
        "-I",
        "--info-script",
        "-F",
        "--new-volume-script",
        "--checkpoint-action=exec",
    ),
    "zip": ("-TT", "--unzip-command"),
    "git": ("--upload-pack", "--receive-pack"),
}
_SSH_KEYS = ("proxycommand", "localcommand", "knownhostscommand", "remotecommand")
#: git settings whose value is run as a command (``!`` marks a shell alias).
GIT_COMMAND_KEYS = (
    "core.sshcommand",
    "core.pager",
    "core.editor",
    "core.fsmonitor",
    "core.hookspath",
    "sequence.editor",
    "diff.external",
    "gpg.program",
    "credential.helper",
    "pager.",
    "alias.",
    "filter.",
    "diff.",
    "merge.",
)
_EDITORS = frozenset({"vi", "vim", "nvim", "view", "ex", "gvim"})


def _values(args: Sequence[Arg], options: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for i, arg in enumerate(args[1:], start=1):
        text = arg.text or ""
        for option in options:
            if text == option and i + 1 < len(args) and args[i + 1].text is not None:
                found.append(args[i + 1].text or "")
            elif text.startswith(option + "=") or (
                option.startswith("-")
                and not option.startswith("--")
                and len(option) == 2
                and text.startswith(option)
                and len(text) > 2
            ):
                found.append(text[len(option) + (1 if text[len(option) :][:1] == "=" else 0) :])
    return found


def _ssh(args: Sequence[Arg]) -> list[str]:
    found: list[str] = []
    for value in _values(args, ("-o",)):
        match = re.match(r"\s*(\w+)\s*[=\s]\s*(.+)", value, re.DOTALL)
        if match and match.group(1).lower() in _SSH_KEYS:
            found.append(match.group(2))
    return found


def _git(args: Sequence[Arg]) -> list[str]:
    found: list[str] = []
    for value in _values(args, ("-c",)):
        key, _, command = value.partition("=")
        if key.lower().startswith(GIT_COMMAND_KEYS) and command:
            found.append(command[1:] if command.startswith("!") else command)
    return found


def embedded_commands(name: str, args: Sequence[Arg]) -> list[str]:
    """The command lines ``name`` would run from its options (``trap`` from its operand)."""
    if name == "trap":
        first = args[1].text if len(args) > 1 else None
        return [first] if first and not first.startswith("-") else []
    if name in ("ssh", "scp", "sftp", "autossh"):
        return _ssh(args)
    if name in _EDITORS:
        values = _values(args, ("-c", "--cmd")) + [
            (a.text or "")[1:] for a in args[1:] if (a.text or "").startswith("+")
        ]
        return [
            v.lstrip(":").lstrip()[1:] for v in values if v.lstrip(":").lstrip().startswith("!")
        ]
    found = _values(args, _COMMAND_OPTIONS.get(name, ()))
    if name == "git":
        found += _git(args)
    return found
