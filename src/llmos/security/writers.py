"""Programs that write files or run commands through their own little languages.

``sort -o FILE``, ``strace -o FILE`` and ``git diff --output=FILE`` write
where an option says; ``sed`` has ``w FILE`` and ``e COMMAND``; ex, vim and ed
have ``:w FILE`` and ``:!command``; gdb has ``shell``; sqlite3 has ``.shell``
and ``.once FILE``; make runs the recipes of ``--eval`` text and of a
Makefile written by the same line; tar with ``-P`` writes its members'
absolute paths, which cannot be known before it runs. Each is modelled as
what it does (a path written, a command run), and the policy judges that as
it would judge a redirection or a shell line.

The models are data (tables of options and command words) plus small
scanners for the scripts; they do not depend on the shell parser.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from llmos.security.command import SimpleCommand
from llmos.security.paths import Operation
from llmos.security.programs import static_output
from llmos.security.verdict import Verdict, deny
from llmos.security.words import Arg

#: program → the options whose value is a file the program writes.
OUTPUT_OPTIONS: dict[str, tuple[str, ...]] = {
    "sort": ("-o", "--output"),
    "strace": ("-o", "--output"),
    "ltrace": ("-o", "--output"),
    "git": ("--output",),
    "tcpdump": ("-w",),
    "patch": ("-o", "--output"),
    "gpg": ("-o", "--output"),
    "gpg2": ("-o", "--output"),
    "openssl": ("-out",),
    "pandoc": ("-o", "--output"),
    "gcc": ("-o",),
    "cc": ("-o",),
    "clang": ("-o",),
    "ld": ("-o",),
    "pg_dump": ("-f", "--file"),
    "mysqldump": ("-r", "--result-file"),
    "script": ("-O", "--log-out"),
    "split": (),
    "uniq": (),
    "base64": ("-o", "--output"),
    "xz": (),
    "time": ("-o", "--output"),
    "ssh-keygen": ("-f",),
    "wget": ("-o", "--output-file", "-a", "--append-output"),
    "curl": ("-D", "--dump-header", "-c", "--cookie-jar", "--trace", "--trace-ascii", "--stderr"),
}
#: Editors whose ``-c CMD`` / ``+CMD`` run editor commands.
EDITORS = frozenset({"vi", "vim", "nvim", "ex", "view", "vimdiff", "rvim"})
LINE_EDITORS = frozenset({"ed", "red"})
DEBUGGERS = frozenset({"gdb", "lldb", "cgdb"})
MAKEFILES = ("GNUmakefile", "makefile", "Makefile")


class Judge(Protocol):
    """What these models need from the shell policy."""

    written: dict[str, str]

    def path(self, command: SimpleCommand, arg: Arg, op: Operation) -> Verdict | None: ...

    def nested(self, code: str, cwd: str | None, depth: int) -> Verdict: ...


Model = Callable[[Judge, SimpleCommand, int], Verdict | None]
MODELS: dict[str, Model] = {}


def model(*names: str) -> Callable[[Model], Model]:
    def register(fn: Model) -> Model:
        for name in names:
            MODELS[name] = fn
        return fn

    return register


def judge_program(judge: Judge, command: SimpleCommand, depth: int) -> Verdict | None:
    """What ``command``'s program writes and runs, judged; ``None`` when nothing is refused."""
    name = command.name or ""
    verdict = _output_options(judge, command, OUTPUT_OPTIONS.get(name, ()))
    if verdict is None and name in MODELS:
        verdict = MODELS[name](judge, command, depth)
    return verdict


def _option_values(args: Sequence[Arg], options: tuple[str, ...]) -> Iterator[Arg]:
    """Values of ``options`` in every spelling: ``-o F``, ``-oF``, ``--output=F``."""
    i = 1
    while i < len(args):
        text = args[i].text
        if text is None:
            i += 1
            continue
        if text == "--":
            return
        for option in options:
            if text == option and i + 1 < len(args):
                yield args[i + 1]
                i += 1
                break
            if option.startswith("--") and text.startswith(option + "="):
                value = text[len(option) + 1 :]
                yield Arg(value, value, args[i].glob)
                break
            if len(option) == 2 and text.startswith(option) and len(text) > 2:
                value = text[2:]
                yield Arg(value, value, args[i].glob)
                break
        i += 1


def _output_options(
    judge: Judge, command: SimpleCommand, options: tuple[str, ...]
) -> Verdict | None:
    for value in _option_values(command.args, options):
        verdict = judge.path(command, value, "write")
        if verdict is not None:
            return verdict
    return None


def _shell(judge: Judge, command: SimpleCommand, line: str, depth: int, how: str) -> Verdict | None:
    inner = judge.nested(line, command.cwd, depth)
    if inner.decision == "allow":
        return None
    return Verdict(
        inner.decision,
        f"{command.name} runs a command ({how}): {inner.reason}",
        inner.command or command.text,
    )


def _unknown_command(command: SimpleCommand, how: str) -> Verdict:
    return deny(f"{command.name} runs a command that cannot be known here ({how})", command.text)


def _write(judge: Judge, command: SimpleCommand, target: str) -> Verdict | None:
    return judge.path(command, Arg(target, target), "write")


# -- sed ----------------------------------------------------------------------------------

_SED_ADDRESS = re.compile(
    r"\s*(?:\d+|\$|/(?:\\.|[^/\\])*/[IM]*|\\(.)(?:\\.|(?!\1).)*\1)"
    r"(?:\s*[,~]\s*(?:\d+|\$|/(?:\\.|[^/\\])*/[IM]*))?\s*!?\s*"
)


@model("sed", "gsed")
def _sed(judge: Judge, command: SimpleCommand, depth: int) -> Verdict | None:
    scripts: list[str | None] = []
    args = command.args
    i, operands = 1, []
    while i < len(args):
        text = args[i].text
        if text in ("-e", "--expression") and i + 1 < len(args):
            scripts.append(args[i + 1].text)
            i += 2
            continue
        if text is not None and text.startswith("--expression="):
            scripts.append(text.partition("=")[2])
        elif text in ("-f", "--file"):
            scripts.append(None)  # a script file: judged like a script run
            i += 2
            continue
        elif text is None or not text.startswith("-") or text == "-":
            operands.append(args[i])
        i += 1
    if not scripts and operands:
        scripts.append(operands[0].text)
    for script in scripts:
        if script is None:
            continue
        for verb, value in _sed_commands(script):
            if verb in ("w", "W"):
                verdict = _write(judge, command, value) if value != "/dev/stdout" else None
            elif verb == "e":
                verdict = (
                    _shell(judge, command, value, depth, "sed e")
                    if value.strip()
                    else _unknown_command(command, "sed e runs the pattern space")
                )
            elif verb == "s-e":
                verdict = _unknown_command(command, "the s///e flag runs the replaced text")
            else:
                verdict = None
            if verdict is not None:
                return verdict
    return None


def _sed_commands(script: str) -> Iterator[tuple[str, str]]:
    """(verb, argument) for the commands of a sed script that write or run something."""
    i, n = 0, len(script)
    while i < n:
        while i < n and script[i] in " \t\n;{}":
            i += 1
        address = _SED_ADDRESS.match(script, i)
        if address and address.end() > i:
            i = address.end()
        if i >= n:
            return
        verb = script[i]
        i += 1
        if verb in "wWe rR":
            end = script.find("\n", i)
            end = n if end < 0 else end
            value = script[i:end].strip()
            if verb in "wWe":
                yield verb, value
            i = end
        elif verb in "sy":
            if i >= n:
                return
            delimiter = script[i]
            parts, j = 0, i + 1
            while j < n and parts < 2:
                if script[j] == "\\":
                    j += 2
                    continue
                if script[j] == delimiter:
                    parts += 1
                j += 1
            flags = re.match(r"[gpiImMe0-9]*", script[j:])
            flag_text = flags.group(0) if flags else ""
            j += len(flag_text)
            if "e" in flag_text and verb == "s":
                yield "s-e", ""
            if verb == "s" and j < n and script[j] == "w":
                end = script.find("\n", j)
                end = n if end < 0 else end
                yield "w", script[j + 1 : end].strip()
                j = end
            i = j
        elif verb in "aic":
            end = script.find("\n", i)
            i = n if end < 0 else end
        elif verb in ":bt":
            while i < n and script[i] not in ";\n":
                i += 1


# -- tar ------------------------------------------------------------------------------------


@model("tar", "bsdtar", "gtar")
def _tar(judge: Judge, command: SimpleCommand, depth: int) -> Verdict | None:
    texts = [a.text or "" for a in command.args[1:]]
    letters = texts[0] if texts and not texts[0].startswith("-") else ""
    shorts = "".join(t[1:] for t in texts if t.startswith("-") and not t.startswith("--"))
    bundled = letters + shorts
    extract = "x" in bundled or any(t in ("--extract", "--get") for t in texts)
    create = bool(set(bundled) & set("cruA")) or any(
        t in ("--create", "--append", "--update", "--concatenate") for t in texts
    )
    absolute = "P" in bundled or "--absolute-names" in texts
    if extract and absolute:
        return deny(
            "tar -P extracts members to the absolute paths stored in the archive, "
            "which cannot be known before it runs; extract without -P",
            command.text,
        )
    for text in texts:
        if text.startswith("--to-command="):
            return _shell(judge, command, text.partition("=")[2], depth, "tar --to-command")
        if text.startswith(("--use-compress-program=", "--checkpoint-action=exec=")):
            return _unknown_command(command, text.partition("=")[0])
    if create:
        archive = _tar_archive(command, letters)
        if archive is not None:
            return judge.path(command, archive, "write")
    return None


def _tar_archive(command: SimpleCommand, letters: str) -> Arg | None:
    """The archive file a creating tar writes: ``-f FILE``, ``--file=FILE`` or ``cf FILE``."""
    args = command.args
    for value in _option_values(args, ("-f", "--file")):
        return value
    if "f" in letters and len(args) > 2:
        return args[2]
    for i, arg in enumerate(args[1:], start=1):
        text = arg.text or ""
        if text.startswith("-") and not text.startswith("--") and text.endswith("f"):
            return args[i + 1] if i + 1 < len(args) else None
    return None


# -- make -----------------------------------------------------------------------------------


@model("make", "gmake")
def _make(judge: Judge, command: SimpleCommand, depth: int) -> Verdict | None:
    texts = [a.text for a in command.args[1:]]
    makefile: str | None = None
    for value in _option_values(command.args, ("--eval", "-E")):
        if value.text is None:
            return _unknown_command(command, "make --eval of a value unknown here")
        verdict = _recipes(judge, command, value.text, depth)
        if verdict is not None:
            return verdict
    for value in _option_values(command.args, ("-f", "--file", "--makefile")):
        makefile = value.text
    if any(t is not None and t.startswith(("-C", "--directory")) for t in texts):
        return None  # another folder's Makefile: judged like a script there
    if command.cwd is None:
        return None
    names = (makefile,) if makefile else MAKEFILES
    for name in names:
        if name is None:
            continue
        content = judge.written.get(_join(command.cwd, name))
        if content is not None:
            return _recipes(judge, command, content, depth)
    return None


def _recipes(judge: Judge, command: SimpleCommand, text: str, depth: int) -> Verdict | None:
    """Judge each recipe line (``target: ; cmd`` and tab-indented lines) as shell."""
    for line in text.splitlines():
        recipe = None
        if line.startswith("\t"):
            recipe = line[1:]
        elif re.match(r"[^=#]*:[^=]", line) and ";" in line:
            recipe = line.split(";", 1)[1]
        if recipe is not None and recipe.strip():
            recipe = re.sub(r"\$\$", "$", recipe.lstrip("@-+ "))
            verdict = _shell(judge, command, recipe, depth, "a make recipe")
            if verdict is not None:
                return verdict
    return None


def _join(cwd: str, name: str) -> str:
    return os.path.normpath(os.path.join(cwd, name))


# -- editors and debuggers ------------------------------------------------------------------

_EDITOR_WRITE = re.compile(
    r"(?:w|write|wq|x|xit|exit|sav|saveas|up|update|wa|wqa|wall)!?"
    r"\s*(>>)?\s*(?P<file>[^|\s]*)$"
)


@model(*EDITORS)
def _vim(judge: Judge, command: SimpleCommand, depth: int) -> Verdict | None:
    lines: list[str] = []
    args = command.args
    for i, arg in enumerate(args[1:], start=1):
        text = arg.text
        bundled = text is not None and re.fullmatch(r"-[a-zA-Z]+c", text) is not None  # -sc
        if (text in ("-c", "--cmd") or bundled) and i + 1 < len(args):
            value = args[i + 1].text
            if value is None:
                return _unknown_command(command, f"{text} with a value unknown here")
            lines.append(value)
        elif text is not None and text.startswith("+") and len(text) > 1:
            lines.append(text[1:])
    silent = command.name == "ex" or any(a.text in ("-e", "-es", "-s", "-E", "-Es") for a in args)
    if silent and command.stdin_text is not None:  # ex mode reads commands from stdin
        lines += command.stdin_text.splitlines()
    operands = [
        a
        for a in args[1:]
        if a.text is not None
        and not a.text.startswith(("-", "+"))
        and a not in _values_of(args, ("-c", "--cmd", "-S", "-u", "-i", "-T"))
    ]
    return _editor_lines(judge, command, lines, operands, depth)


@model(*LINE_EDITORS)
def _ed(judge: Judge, command: SimpleCommand, depth: int) -> Verdict | None:
    operands = [a for a in command.args[1:] if a.text is not None and not a.text.startswith("-")]
    text = command.stdin_text
    if text is None and command.upstream:
        text = static_output(list(command.upstream)).output
    if text is None:
        return None
    return _editor_lines(judge, command, text.splitlines(), operands, depth)


def _values_of(args: Sequence[Arg], options: tuple[str, ...]) -> list[Arg]:
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a.text in options]


def _editor_lines(
    judge: Judge, command: SimpleCommand, lines: list[str], files: list[Arg], depth: int
) -> Verdict | None:
    for raw in lines:
        for line in raw.split("|"):
            line = re.sub(r"^[\s:]*(?:[.$%]|\d+|'[a-z<>])?(?:\s*,\s*(?:[.$]|\d+))?\s*", "", line)
            if not line:
                continue
            if line.startswith("!"):
                verdict = _shell(judge, command, line[1:], depth, "an editor ! command")
            elif re.match(r"(?:r|read|w|write)\s+!", line):  # `:w !cmd`; `:w!` is a forced write
                verdict = _shell(
                    judge, command, line.split("!", 1)[1], depth, "an editor ! command"
                )
            elif re.match(
                r"(?:sh|shell|te|terminal|py|python|py3|python3|pyx|lua|perl|rub|"
                r"ruby|so|source|call\s+system)\b",
                line,
            ):
                verdict = _unknown_command(command, f"the editor command {line.split()[0]!r}")
            elif (written := _EDITOR_WRITE.match(line)) is not None:
                target = written.group("file")
                verdict = (
                    _write(judge, command, target)
                    if target
                    else next((v for f in files if (v := judge.path(command, f, "write"))), None)
                )
            else:
                verdict = None
            if verdict is not None:
                return verdict
    return None


@model(*DEBUGGERS)
def _gdb(judge: Judge, command: SimpleCommand, depth: int) -> Verdict | None:
    lines: list[str] = []
    args = command.args
    for i, arg in enumerate(args[1:], start=1):
        text = arg.text or ""
        if text in ("-ex", "--ex", "-iex", "-o", "--one-line") and i + 1 < len(args):
            value = args[i + 1].text
            if value is None:
                return _unknown_command(command, f"{text} with a value unknown here")
            lines.append(value)
        elif text.startswith(("--eval-command=", "-ex=")):
            lines.append(text.partition("=")[2])
        elif text in ("-x", "--command", "-ix", "-s", "--source") or text.startswith(
            ("--command=", "-x=")
        ):
            return _unknown_command(command, "commands from a script file")
    for line in lines:
        line = line.strip()
        if line.startswith("!") or re.match(r"(?:shell|platform\s+shell)\b", line):
            rest = line[1:] if line.startswith("!") else line.split(None, 1)[1:]
            inner = rest if isinstance(rest, str) else (rest[0] if rest else "")
            verdict = _shell(judge, command, inner, depth, "gdb shell")
        elif re.match(
            r"(?:pi|python|python-interactive|guile|gu|source|call|print|p)\b.*"
            r"(?:system|popen|exec|open|os\.|subprocess)",
            line,
        ):
            verdict = _unknown_command(command, f"the debugger command {line.split()[0]!r}")
        elif m := re.match(r"(?:dump|append|set\s+logging\s+file)\s+(?:\S+\s+)*?(\S+)$", line):
            verdict = _write(judge, command, m.group(1))
        else:
            verdict = None
        if verdict is not None:
            return verdict
    return None


# -- sqlite3 --------------------------------------------------------------------------------

_SQLITE_SHELL = re.compile(r"^\s*\.(?:shell|system)\s+(?P<cmd>.+)$", re.M)
_SQLITE_FILE = re.compile(
    r"^\s*\.(?:once|output|save|backup|excel)\s+(?:-\w+\s+)*"
    r"(?:main\s+)?(?P<file>\S+)",
    re.M,
)
_SQLITE_ATTACH = re.compile(r"\b(?:ATTACH|VACUUM\s+INTO)\s+(?:DATABASE\s+)?'([^']+)'", re.I)


@model("sqlite3")
def _sqlite(judge: Judge, command: SimpleCommand, depth: int) -> Verdict | None:
    texts: list[str] = []
    args = command.args
    seen_db = False
    for i, arg in enumerate(args[1:], start=1):
        text = arg.text
        if text is None:
            continue
        if args[i - 1].text == "-cmd" or (seen_db and not text.startswith("-")):
            texts.append(text)
        elif not text.startswith("-") and args[i - 1].text not in (
            "-separator",
            "-newline",
            "-nullvalue",
            "-cmd",
        ):
            seen_db = True
    if command.stdin_text is not None:
        texts.append(command.stdin_text)
    for text in texts:
        for match in _SQLITE_SHELL.finditer(text):
            verdict = _shell(
                judge, command, match.group("cmd").strip().strip("'\""), depth, "sqlite3 .shell"
            )
            if verdict is not None:
                return verdict
        if re.search(r"^\s*\.load\b", text, re.M):
            return _unknown_command(command, "sqlite3 .load loads a native library")
        for match in _SQLITE_FILE.finditer(text):
            target = match.group("file").strip("'\"")
            if target.startswith("|"):
                verdict = _shell(judge, command, target[1:], depth, "sqlite3 output pipe")
            else:
                verdict = _write(judge, command, target)
            if verdict is not None:
                return verdict
        for match in _SQLITE_ATTACH.finditer(text):
            verdict = _write(judge, command, match.group(1))
            if verdict is not None:
                return verdict
    return None
