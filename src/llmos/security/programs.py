"""What programs do with their arguments: wrappers, and outputs known in advance.

A wrapper runs another command (``sudo rm …``, ``timeout 5 rm …``) or a
string (``bash -c '…'``, ``eval …``, ``find -exec``); :func:`unwrap` returns
what it runs so the walker can judge that too. :func:`static_output` works
out what a small pipeline prints when that is knowable (``echo cm0g… |
base64 -d``), so an encoded payload piped to ``sh`` is judged decoded.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from llmos.security.command import SimpleCommand, program_name
from llmos.security.embedded import embedded_commands
from llmos.security.words import Arg, Substituted, decode_ansi_c, join_known

SHELLS = frozenset(
    {
        "sh",
        "bash",
        "zsh",
        "dash",
        "ksh",
        "mksh",
        "ash",
        "fish",
        "csh",
        "tcsh",
        "yash",
        "rbash",
        "busybox-sh",
    }
)
#: Programs that print what they fetch from the network.
FETCHERS = frozenset(
    {
        "curl",
        "wget",
        "fetch",
        "http",
        "https",
        "xh",
        "aria2c",
        "nc",
        "ncat",
        "netcat",
        "socat",
        "telnet",
        "lynx",
        "links",
        "w3m",
        "ftp",
        "tftp",
        "lwp-request",
        "GET",
        "POST",
        "iwr",
        "irm",
        "invoke-webrequest",
        "invoke-restmethod",
        "openssl",
    }
)
#: Programs that turn an encoded payload into text: output piped to a shell is a disguise.
DECODERS = frozenset(
    {
        "base64",
        "base32",
        "basenc",
        "xxd",
        "uudecode",
        "openssl",
        "gunzip",
        "zcat",
        "gzip",
        "bzip2",
        "bzcat",
        "xz",
        "xzcat",
        "unxz",
        "zstd",
        "rev",
        "tr",
        "od",
        "perl",
        "python",
        "python3",
        "ruby",
        "node",
        "printf",
    }
)
_MKTEMP_EXAMPLE = "tmp.llmosXXXXXXXX"


@dataclass(frozen=True, slots=True)
class RunString:
    """A string a wrapper hands to a shell (``bash -c``, ``eval``, ``su -c`` …)."""

    code: str
    cwd: str | None = None


def join_path(cwd: str, text: str) -> str:
    return os.path.normpath(os.path.join(cwd, text))


def _is_option(arg: Arg) -> bool:
    return arg.text is not None and arg.text.startswith("-") and arg.text != "-"


def skip_options(
    args: Sequence[Arg],
    start: int,
    with_value: frozenset[str] | set[str] = frozenset(),
    positionals: int = 0,
    stop_at: frozenset[str] = frozenset(),
) -> int | None:
    """Index of the wrapped command after options (and ``positionals`` operands).

    Returns ``None`` when an option in ``stop_at`` means nothing is run.
    """
    i = start
    while i < len(args) and _is_option(args[i]):
        text = args[i].text or ""
        if text == "--":
            i += 1
            break
        if text in stop_at:
            return None
        i += 2 if text in with_value else 1
    return i + positionals


_WRAPPERS: dict[str, tuple[frozenset[str], int, frozenset[str]]] = {
    "sudo": (
        frozenset(
            {
                "-u",
                "-g",
                "-h",
                "-p",
                "-C",
                "-D",
                "-r",
                "-t",
                "-U",
                "-T",
                "--user",
                "--group",
                "--host",
                "--prompt",
                "--chdir",
                "--role",
                "--type",
                "--other-user",
                "--command-timeout",
                "--close-from",
            }
        ),
        0,
        frozenset({"-l", "-v", "-k", "-K", "-V", "--list", "--validate"}),
    ),
    "doas": (frozenset({"-u", "-C"}), 0, frozenset()),
    "pkexec": (frozenset({"--user"}), 0, frozenset()),
    "nice": (frozenset({"-n", "--adjustment"}), 0, frozenset()),
    "nohup": (frozenset(), 0, frozenset()),
    "builtin": (frozenset(), 0, frozenset()),
    "exec": (frozenset({"-a"}), 0, frozenset()),
    "command": (frozenset(), 0, frozenset({"-v", "-V"})),
    "stdbuf": (frozenset({"-i", "-o", "-e"}), 0, frozenset()),
    "setsid": (frozenset(), 0, frozenset()),
    "time": (frozenset({"-f", "-o", "--format", "--output"}), 0, frozenset()),
    "timeout": (frozenset({"-s", "-k", "--signal", "--kill-after"}), 1, frozenset()),
    "ionice": (frozenset({"-c", "-n", "--class", "--classdata"}), 0, frozenset({"-p"})),
    "chrt": (frozenset(), 1, frozenset({"-p", "--pid"})),
    "taskset": (frozenset(), 1, frozenset({"-p", "--pid"})),
    "chroot": (frozenset({"--userspec", "--groups"}), 1, frozenset()),
    "unshare": (frozenset({"-S", "-G", "--setuid", "--setgid"}), 0, frozenset()),
    "nsenter": (frozenset({"-t", "--target", "-S", "-G"}), 0, frozenset()),
    "strace": (
        frozenset({"-o", "-e", "-p", "-s", "-u", "-a", "-b", "-E", "-I", "-O", "-P", "-S", "-X"}),
        0,
        frozenset(),
    ),
    "ltrace": (frozenset({"-o", "-e", "-p", "-s", "-u", "-a", "-n"}), 0, frozenset()),
    "xvfb-run": (frozenset({"-n", "-s", "-e", "-f", "-p", "-w", "--server-args"}), 0, frozenset()),
    "dbus-launch": (frozenset(), 0, frozenset()),
    "catchsegv": (frozenset(), 0, frozenset()),
    "fakeroot": (frozenset({"-l", "-s", "-i", "-b"}), 0, frozenset()),
    "firejail": (frozenset(), 0, frozenset()),
    "torsocks": (frozenset(), 0, frozenset()),
    "proxychains": (frozenset({"-f"}), 0, frozenset()),
    "proxychains4": (frozenset({"-f"}), 0, frozenset()),
    "systemd-run": (
        frozenset(
            {
                "-u",
                "-p",
                "-E",
                "--unit",
                "--property",
                "--setenv",
                "--description",
                "--slice",
                "-M",
                "-H",
            }
        ),
        0,
        frozenset(),
    ),
    "faketime": (frozenset({"-m", "-f"}), 1, frozenset()),
    "runuser": (frozenset({"-u", "-g", "-G", "--user", "--group"}), 0, frozenset()),
    "caffeinate": (frozenset({"-t", "-w"}), 0, frozenset()),
    "watch": (frozenset({"-n", "-d", "--interval", "-q", "--equexit"}), 0, frozenset()),
    "flock": (frozenset({"-w", "-E", "--timeout", "--conflict-exit-code"}), 1, frozenset()),
    "busybox": (frozenset(), 0, frozenset()),
    "toybox": (frozenset(), 0, frozenset()),
}
#: Wrappers whose remaining arguments form a command string, not an argv.
_STRING_WRAPPERS = frozenset({"watch"})


def unwrap(command: SimpleCommand) -> list[SimpleCommand | RunString]:
    """What ``command`` runs on its behalf: a wrapped argv, or strings to parse again."""
    name, args = command.name, command.args
    if name is None or len(args) < 1:
        return []
    if name in SHELLS:
        code = shell_code(args)
        return [] if code is None or code.text is None else [RunString(code.text)]
    if name == "eval":
        joined = join_known(args[1:])
        return [] if joined is None else [RunString(joined)]
    if name in ("su", "sg", "script", "flock") or (name == "runuser" and _has_flag(args, "-c")):
        string = _option_value(args, ("-c", "--command"))
        if string is not None:
            return [] if string.text is None else [RunString(string.text)]
    if name == "env":
        return _unwrap_env(command)
    if name == "xargs":
        return _unwrap_xargs(command)
    if name == "find":
        return _unwrap_find(command)
    spec = _WRAPPERS.get(name)
    if spec is None:
        return [RunString(code) for code in embedded_commands(name, args)]
    start = skip_options(args, 1, spec[0], spec[1], spec[2])
    if start is None or start >= len(args):
        return []
    if name in _STRING_WRAPPERS and not _has_flag(args, "-x"):
        joined = join_known(args[start:])
        return [] if joined is None else [RunString(joined)]
    return [_inner(command, args[start:])]


def _inner(command: SimpleCommand, args: Sequence[Arg], cwd: str | None = None) -> SimpleCommand:
    return replace(
        command,
        args=tuple(args),
        name=program_name(args[0].text),
        cwd=command.cwd if cwd is None else cwd,
    )


def _has_flag(args: Sequence[Arg], flag: str) -> bool:
    return any(a.text == flag for a in args[1:])


def _option_value(args: Sequence[Arg], names: tuple[str, ...]) -> Arg | None:
    for i, arg in enumerate(args[1:], start=1):
        text = arg.text or ""
        if text in names and i + 1 < len(args):
            return args[i + 1]
        for long_name in names:
            if long_name.startswith("--") and text.startswith(long_name + "="):
                return Arg(text[len(long_name) + 1 :])
    return None


def shell_code(args: Sequence[Arg]) -> Arg | None:
    """The ``-c`` string of a shell invocation (``bash -lc '…'``), if there is one."""
    wants_code = False
    i = 1
    while i < len(args):
        text = args[i].text
        if text is None:
            return args[i] if wants_code else None
        if text in ("-o", "-O", "+o", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if text.startswith("-") and not text.startswith("--") and "c" in text[1:]:
            wants_code = True
        elif text == "--":
            pass
        elif not text.startswith(("-", "+")):
            return args[i] if wants_code else None
        i += 1
    return None


def shell_reads_stdin(args: Sequence[Arg]) -> bool:
    """Whether a shell runs its standard input (no script, no ``-c``, or ``-s``)."""
    if shell_code(args) is not None:
        return False
    i = 1
    while i < len(args):
        text = args[i].text
        if text is None:
            return False
        if text in ("-o", "-O", "+o", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if text.startswith("-") and not text.startswith("--") and "s" in text[1:]:
            return True
        if text in ("-", "/dev/stdin", "/proc/self/fd/0", "/dev/fd/0"):
            return True
        if not text.startswith(("-", "+")):
            return False
        i += 1
    return True


def _unwrap_env(command: SimpleCommand) -> list[SimpleCommand | RunString]:
    args, cwd = command.args, command.cwd
    i = 1
    while i < len(args):
        text = args[i].text
        if text is None:
            break
        if text in ("-u", "--unset"):
            i += 2
        elif text in ("-C", "--chdir") and i + 1 < len(args):
            target = args[i + 1].text
            cwd = None if target is None or cwd is None else join_path(cwd, target)
            i += 2
        elif text.startswith("--chdir="):
            cwd = None if cwd is None else join_path(cwd, text.partition("=")[2])
            i += 1
        elif text in ("-S", "--split-string") or text.startswith("--split-string="):
            string = (
                args[i + 1]
                if "=" not in text and i + 1 < len(args)
                else Arg(text.partition("=")[2])
            )
            rest = join_known(args[i + (1 if "=" in text else 2) :])
            if string.text is None or rest is None:
                return []
            return [RunString(f"{string.text} {rest}".strip(), cwd)]
        elif text == "--":
            i += 1
            break
        elif text.startswith("-") or ("=" in text and not text.startswith("=")):
            i += 1
        else:
            break
    while (
        i < len(args)
        and (args[i].text or "").partition("=")[1]
        and not (args[i].text or "").startswith(("/", "."))
    ):
        i += 1
    return [_inner(command, args[i:], cwd)] if i < len(args) else []


_XARGS_VALUE = frozenset(
    {
        "-a",
        "-d",
        "-E",
        "-I",
        "-L",
        "-n",
        "-P",
        "-s",
        "--arg-file",
        "--delimiter",
        "--eof",
        "--replace",
        "--max-lines",
        "--max-args",
        "--max-procs",
        "--max-chars",
        "--process-slot-var",
    }
)


def _unwrap_xargs(command: SimpleCommand) -> list[SimpleCommand | RunString]:
    args = command.args
    start = skip_options(args, 1, _XARGS_VALUE)
    replace_str = _option_value(args, ("-I", "--replace"))
    if replace_str is None:
        attached = next((a.text for a in args[1:start] if (a.text or "").startswith("-i")), None)
        if attached is not None:
            replace_str = Arg(attached[2:] or "{}")
    inner = list(args[start:]) if start is not None and start < len(args) else [Arg("echo")]
    items = item_source(command.upstream, command.cwd, command.stdin_text)
    item_args = [Arg(None)] if items is None else [Arg(t, t, _glob(t)) for t in items]
    if replace_str is not None and replace_str.text:
        marker = replace_str.text
        expanded: list[Arg] = []
        for arg in inner:
            if arg.text is not None and marker in arg.text:
                expanded += [_substitute(arg, marker, item) for item in item_args]
            else:
                expanded.append(arg)
        inner = expanded
    else:
        inner = inner + item_args
    return [_inner(command, inner)]


def _glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def _substitute(arg: Arg, marker: str, item: Arg) -> Arg:
    assert arg.text is not None
    if item.text is None:
        return Arg(None, arg.text.split(marker, 1)[0], arg.glob)
    text = arg.text.replace(marker, item.text)
    return Arg(text, text, arg.glob or item.glob)


_FIND_GLOBAL = frozenset({"-H", "-L", "-P"})
_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})


def find_roots(args: Sequence[Arg]) -> list[Arg]:
    """The starting points of a ``find`` (``.`` when none is given)."""
    roots: list[Arg] = []
    i = 1
    while i < len(args):
        text = args[i].text
        if text in _FIND_GLOBAL or (text or "").startswith("-O"):
            i += 1
            continue
        if text == "-D":
            i += 2
            continue
        if text is not None and (text.startswith(("-", "(", "!", ",")) or text == ")"):
            break
        roots.append(args[i])
        i += 1
    return roots or [Arg(".", ".")]


def find_name_pattern(args: Sequence[Arg]) -> str | None:
    """The ``-name``/``-iname`` pattern, ``None`` when the match is not narrowed by name."""
    texts = [a.text for a in args]
    for flag in ("-name", "-iname"):
        if flag in texts:
            index = texts.index(flag)
            if index + 1 < len(texts):
                return texts[index + 1]
    return None


def find_items(args: Sequence[Arg], cwd: str | None) -> list[str] | None:
    """Paths a ``find`` can produce, as globs under its roots (``root/*.pyc``)."""
    if cwd is None:
        return None
    pattern = find_name_pattern(args) or "*"
    items: list[str] = []
    for root in find_roots(args):
        if root.text is None:
            return None
        items.append(join_path(cwd, root.text) + "/" + pattern)
    return items


def _unwrap_find(command: SimpleCommand) -> list[SimpleCommand | RunString]:
    args = command.args
    found: list[SimpleCommand | RunString] = []
    items = find_items(args, command.cwd)
    item_args = [Arg(None)] if items is None else [Arg(t, t, True) for t in items]
    i = 0
    while i < len(args):
        if args[i].text in _FIND_EXEC:
            j = i + 1
            while j < len(args) and args[j].text not in (";", "+"):
                j += 1
            inner: list[Arg] = []
            for arg in args[i + 1 : j]:
                if arg.text is not None and "{}" in arg.text:
                    inner += [_substitute(arg, "{}", item) for item in item_args]
                else:
                    inner.append(arg)
            if inner:
                found.append(_inner(command, inner))
            i = j
        i += 1
    return found


_LISTERS = frozenset({"ls", "fd", "fdfind", "locate"})


def item_source(
    upstream: Sequence[SimpleCommand], cwd: str | None, stdin_text: str | None = None
) -> list[str] | None:
    """What a pipeline feeds to ``xargs`` or ``read``: literal words or path globs."""
    if not upstream:
        return None if stdin_text is None else stdin_text.split()
    last = upstream[-1]
    if last.name == "find":
        return find_items(last.args, last.cwd)
    if last.cwd is not None and (
        last.name in _LISTERS
        or (
            last.name == "git"
            and len(last.args) > 1
            and last.args[1].text in ("ls-files", "diff", "status")
        )
    ):
        operands = [a for a in last.args[1:] if not _is_option(a)]
        if last.name == "git" or not operands:
            return [last.cwd + "/*"]
        if any(a.text is None for a in operands):
            return None
        return [join_path(last.cwd, a.text or ".") + "/*" for a in operands]
    if (
        last.cwd is not None
        and last.name in _GREPS
        and any(_lists_files(a.text or "") for a in last.args[1:])
    ):
        operands = [a for a in last.args[1:] if not _is_option(a)]
        if not any((a.text or "").startswith(("-e", "--regexp", "-f")) for a in last.args[1:]):
            operands = operands[1:]  # the first operand is the pattern
        if any(a.text is None for a in operands):
            return None
        return [join_path(last.cwd, a.text or ".") + "/*" for a in operands] or [last.cwd + "/*"]
    output = static_output(list(upstream)).output
    return None if output is None else output.split()


_GREPS = frozenset({"grep", "egrep", "fgrep", "rg"})


def _lists_files(option: str) -> bool:
    """``grep -l``/``-L`` (alone or bundled, ``-rl``) prints file names, not lines."""
    if option in ("--files-with-matches", "--files-without-match", "--files"):
        return True
    return option.startswith("-") and not option.startswith("--") and bool(set(option) & {"l", "L"})


def static_output(commands: Sequence[SimpleCommand]) -> Substituted:
    """What a pipeline prints, when small enough to know; and where its data came from."""
    names = {c.name for c in commands}
    output: str | None = commands[0].stdin_text if commands else None
    for command in commands:
        output = _output_of(command, output)
    origin = ""
    if names & FETCHERS:
        origin = "network"
    elif names & DECODERS and output is None:
        origin = "decoded"
    return Substituted(output, origin)


def _output_of(command: SimpleCommand, stdin: str | None) -> str | None:
    argv = command.argv
    if any(a is None for a in argv):
        return None
    words = [a for a in argv if a is not None]
    name = command.name
    if name == "echo":
        flags: set[str] = set()
        while len(words) > 1 and words[1] in ("-n", "-e", "-E", "-ne", "-en"):
            flags.update(words.pop(1)[1:])
        text = " ".join(words[1:])
        return (decode_ansi_c(text) if "e" in flags else text) + ("" if "n" in flags else "\n")
    if name == "printf":
        return _printf(words[1:])
    if name == "pwd":
        return command.cwd
    if name == "mktemp":
        return _mktemp(words)
    if name == "cat" and len(words) == 1:
        return stdin
    if stdin is None:
        return None
    if name in ("base64", "base32") and any(w in ("-d", "--decode", "-D") for w in words):
        return _decode(stdin, name)
    if name == "rev":
        return "\n".join(line[::-1] for line in stdin.split("\n"))
    if name == "tr" and len(words) == 3:
        source, target = _tr_set(words[1]), _tr_set(words[2])
        if not source or not target:
            return None
        target = (target + target[-1] * len(source))[: len(source)]
        return stdin.translate(str.maketrans(source, target))
    if name == "xxd" and "-r" in words:
        try:
            return bytes.fromhex("".join(stdin.split())).decode("utf-8", "replace")
        except ValueError:
            return None
    return None


def _printf(args: list[str]) -> str | None:
    if not args:
        return None
    fmt, values = decode_ansi_c(args[0]), list(args[1:])
    out: list[str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            spec = fmt[i + 1]
            if spec == "%":
                out.append("%")
            elif spec in "sbdc":
                value = values.pop(0) if values else ""
                out.append(decode_ansi_c(value) if spec == "b" else value)
            else:
                return None
            i += 2
            continue
        out.append(fmt[i])
        i += 1
    return "".join(out)


def _mktemp(words: list[str]) -> str:
    folder = "/tmp"
    for i, word in enumerate(words):
        if word in ("-p", "--tmpdir") and i + 1 < len(words):
            folder = words[i + 1]
        elif word.startswith("--tmpdir="):
            folder = word.partition("=")[2]
    return f"{folder.rstrip('/')}/{_MKTEMP_EXAMPLE}"


def _decode(text: str, name: str) -> str | None:
    data = "".join(text.split())
    try:
        raw = (
            base64.b64decode(data + "=" * (-len(data) % 4))
            if name == "base64"
            else (base64.b32decode(data + "=" * (-len(data) % 8)))
        )
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-8", "replace")


def _tr_set(spec: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out.extend(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)
