"""What one-liners in perl, ruby, node, php, lua and awk do to files, as data.

Python is parsed for real (:mod:`llmos.security.code`); for the other
languages there is no parser here, so each language has a table of the calls
that act on the system and what each does with its string arguments:
``write`` (the first is a path written), ``delete`` (every one is deleted),
``move`` (every one is written: a rename's source disappears and its target
appears; a hard link's source is the same file as the link, written through it),
``target`` (the last is written: copy, link), ``open`` (a mode argument
decides), ``shell`` (the first is a shell command line) and ``argv`` (the
strings are a program and its arguments). A call that writes or deletes
with no literal path (a variable, a computed string) writes somewhere that
cannot be known here, and is refused: the agent can always spell the path.

The tables are data on purpose: they do not depend on the shell parser, so
they carry over when the parser changes.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from llmos.security.paths import Operation
from llmos.security.verdict import Verdict, deny

Effect = Literal["write", "delete", "move", "target", "open", "shell", "argv"]

#: language → call (as written in code, ``.``-qualified where the language does) → effect
LANGUAGE_CALLS: dict[str, dict[str, Effect]] = {
    "perl": {
        "open": "open",
        "sysopen": "write",
        "unlink": "delete",
        "rmdir": "delete",
        "rmtree": "delete",
        "remove_tree": "delete",
        "rename": "move",
        "move": "move",
        "copy": "target",
        "link": "move",
        "symlink": "target",
        "truncate": "write",
        "mkdir": "write",
        "make_path": "write",
        "utime": "write",
        "chmod": "target",
        "system": "shell",
        "exec": "shell",
        "qx": "shell",
        "readpipe": "shell",
    },
    "ruby": {
        "File.write": "write",
        "IO.write": "write",
        "File.open": "open",
        "open": "open",
        "File.new": "open",
        "File.delete": "delete",
        "File.unlink": "delete",
        "FileUtils.rm": "delete",
        "FileUtils.rm_f": "delete",
        "FileUtils.rm_r": "delete",
        "FileUtils.rm_rf": "delete",
        "FileUtils.remove_dir": "delete",
        "Dir.rmdir": "delete",
        "Dir.delete": "delete",
        "File.rename": "move",
        "FileUtils.mv": "move",
        "FileUtils.cp": "target",
        "FileUtils.cp_r": "target",
        "FileUtils.ln_s": "target",
        "File.symlink": "target",
        "File.link": "move",
        "FileUtils.ln": "move",
        "FileUtils.touch": "write",
        "FileUtils.mkdir_p": "write",
        "File.truncate": "write",
        "system": "shell",
        "exec": "shell",
        "spawn": "shell",
        "IO.popen": "shell",
        "Open3.capture2": "shell",
        "%x": "shell",
    },
    "node": {
        "writeFileSync": "write",
        "writeFile": "write",
        "appendFileSync": "write",
        "appendFile": "write",
        "createWriteStream": "write",
        "truncateSync": "write",
        "truncate": "write",
        "mkdirSync": "write",
        "mkdir": "write",
        "openSync": "open",
        "unlinkSync": "delete",
        "unlink": "delete",
        "rmSync": "delete",
        "rm": "delete",
        "rmdirSync": "delete",
        "rmdir": "delete",
        "renameSync": "move",
        "rename": "move",
        "copyFileSync": "target",
        "copyFile": "target",
        "cpSync": "target",
        "symlinkSync": "target",
        "linkSync": "move",
        "execSync": "shell",
        "exec": "shell",
        "spawnSync": "argv",
        "spawn": "argv",
        "execFileSync": "argv",
        "execFile": "argv",
    },
    "php": {
        "file_put_contents": "write",
        "fopen": "open",
        "unlink": "delete",
        "rmdir": "delete",
        "rename": "move",
        "copy": "target",
        "symlink": "target",
        "link": "move",
        "touch": "write",
        "mkdir": "write",
        "system": "shell",
        "exec": "shell",
        "shell_exec": "shell",
        "passthru": "shell",
        "popen": "shell",
        "proc_open": "shell",
    },
    "lua": {
        "io.open": "open",
        "os.remove": "delete",
        "os.rename": "move",
        "os.execute": "shell",
        "io.popen": "shell",
    },
}
for _alias, _language in (("nodejs", "node"), ("bun", "node"), ("deno", "node")):
    LANGUAGE_CALLS[_alias] = LANGUAGE_CALLS[_language]

_STRING = re.compile(r"""'((?:\\.|[^'\\])*)'|"((?:\\.|[^"\\])*)"|`((?:\\.|[^`\\])*)`""")
#: awk's output redirections: ``print … > "file"``, ``>>``, and ``| "command"``.
_AWK_OUTPUT = re.compile(r"""\b(?:print|printf)\b[^;}\n]*?(>>|>|\|)\s*("(?:\\.|[^"\\])*"|\S+)""")


@dataclass(frozen=True, slots=True)
class Call:
    """One call found in a one-liner: its name, effect and literal string arguments."""

    name: str
    effect: Effect
    strings: list[str]
    opaque: bool  # it has arguments that are not string literals


def calls(language: str, code: str) -> Iterator[Call]:
    """The calls of ``language``'s table that ``code`` makes, in order."""
    table = LANGUAGE_CALLS.get(language, {})
    if not table:
        return
    names = sorted(table, key=len, reverse=True)
    # node's calls are methods (fs.writeFileSync); elsewhere `x.open` is not `open`.
    before = r"(?<![\w$])" if table is LANGUAGE_CALLS["node"] else r"(?<![\w.$>:])"
    pattern = re.compile(
        before + "(" + "|".join(re.escape(n) for n in names) + r")(?![\w])\s*(\(|\{|\s|$)"
    )
    strings = [m.span() for m in _STRING.finditer(code)]
    for match in pattern.finditer(code):
        name = match.group(1)
        if any(start <= match.start() < end for start, end in strings):
            continue  # a word inside a string ("please copy this"), not a call
        span = _arguments(code, match.end() - 1, match.group(2))
        literals = [_unescape(m) for m in _STRING.finditer(span)]
        bare = _STRING.sub("", span).strip(" \t(){};,")
        yield Call(name, table[name], literals, opaque=bool(re.search(r"[\w$@]", bare)))


def _arguments(code: str, start: int, opener: str) -> str:
    """The text of a call's arguments: to the matching bracket, or to the statement's end."""
    if opener in "({":
        close = ")" if opener == "(" else "}"
        depth, i = 0, start
        while i < len(code):
            char = code[i]
            if char in "'\"`":
                end = _STRING.match(code, i)
                i = end.end() if end else i + 1
                continue
            if char == opener:
                depth += 1
            elif char == close:
                depth -= 1
                if depth == 0:
                    return code[start + 1 : i]
            i += 1
        return code[start + 1 :]
    end = re.search(r"[;\n}]|\b(or|and|if|unless)\b", code[start:])
    return code[start : start + end.start()] if end else code[start:]


def _unescape(match: re.Match[str]) -> str:
    text = next(g for g in match.groups() if g is not None)
    return re.sub(r"\\(.)", r"\1", text)


PathCheck = Callable[[str, Operation], str | None]
ShellCheck = Callable[[str], Verdict]


def judge_calls(
    language: str, code: str, path: PathCheck, shell: ShellCheck, subject: str
) -> Verdict | None:
    """The first refused effect of ``code``'s calls, or ``None``."""
    if language in ("awk", "gawk", "mawk", "nawk"):
        return _judge_awk(code, path, shell, subject)
    for call in calls(language, code):
        verdict = _judge_call(call, path, shell, subject)
        if verdict is not None:
            return verdict
    return None


def _judge_call(call: Call, path: PathCheck, shell: ShellCheck, subject: str) -> Verdict | None:
    strings = call.strings
    targets: list[tuple[str, Operation]] = []
    match call.effect:
        case "shell":
            if not strings:
                return (
                    None
                    if not call.opaque
                    else deny(
                        f"the one-liner runs a shell command built at run time ({call.name})",
                        subject,
                    )
                )
            return _shell(strings[0], shell, subject)
        case "argv":
            if strings:
                return _shell(" ".join(shlex.quote(s) for s in strings), shell, subject)
            return None
        case "open":
            mode, target = _open_mode(call)
            if mode == "shell":
                return _shell(target or "", shell, subject)
            if mode == "write":
                if target is None:
                    return _unknown(call, subject)
                targets.append((target, "write"))
        case "write":
            if not strings:
                return _unknown(call, subject)
            targets.append((strings[0], "write"))
        case "target":
            if not strings:
                return _unknown(call, subject)
            targets.append((strings[-1], "write"))
        case "delete" | "move":
            if not strings:
                return _unknown(call, subject)
            op: Operation = "delete" if call.effect == "delete" else "write"
            targets += [(s, op) for s in strings if not _is_option(s)]
    for target, op in targets:
        reason = path(target, op)
        if reason is not None:
            return deny(f"the one-liner ({call.name}) {reason}", subject)
    return None


def _is_option(text: str) -> bool:
    return bool(re.fullmatch(r"[rwaxb+t]{1,3}|0?[0-7]{3,4}", text))


def _open_mode(call: Call) -> tuple[Literal["read", "write", "shell"], str | None]:
    """How an ``open`` call opens: perl's ``>``/``|`` prefixes, or a mode argument."""
    strings = call.strings
    if call.name == "open" and strings and re.match(r"\s*(\+?[<>]|\||-\|)", strings[0]):
        first = strings[0].strip()  # perl: open(F, ">", $p) / open(F, ">>path") / open(F, "|cmd")
        if first.startswith("|") or first.endswith("|"):
            return "shell", first.strip("|").strip() or (strings[1] if len(strings) > 1 else None)
        if first.startswith(("+<", ">", "+>")):
            rest = first.lstrip("+<>").strip()
            return "write", rest or (strings[1] if len(strings) > 1 else None)
        return "read", None
    if len(strings) >= 2 and re.fullmatch(r"[rwaxb+t]{1,3}", strings[1]):
        return ("write" if set(strings[1]) & set("wax+") else "read"), strings[0]
    if len(strings) == 1 and strings[0].endswith("|"):
        return "shell", strings[0].rstrip("|")
    if call.opaque and not strings:
        return "read", None  # open(path_variable): perl's default is reading
    return "read", None


def _unknown(call: Call, subject: str) -> Verdict:
    return deny(
        f"the one-liner ({call.name}) writes or deletes a path computed at run time, which "
        "could be outside the working directory; spell the path as a string literal",
        subject,
    )


def _shell(line: str, shell: ShellCheck, subject: str) -> Verdict | None:
    inner = shell(line)
    if inner.decision == "allow":
        return None
    return Verdict(
        inner.decision,
        f"the one-liner runs a shell command: {inner.reason}",
        inner.command or subject,
    )


def _judge_awk(code: str, path: PathCheck, shell: ShellCheck, subject: str) -> Verdict | None:
    for match in _AWK_OUTPUT.finditer(code):
        operator, target = match.group(1), match.group(2)
        literal = target[1:-1] if target.startswith('"') else None
        if operator == "|":
            if literal is None:
                return deny("the awk program pipes into a command built at run time", subject)
            verdict = _shell(literal, shell, subject)
        elif literal is None:
            return deny(
                "the awk program writes to a file whose name is computed at run time; "
                "spell it as a string",
                subject,
            )
        else:
            reason = path(literal, "write")
            verdict = None if reason is None else deny(f"the awk program {reason}", subject)
        if verdict is not None:
            return verdict
    for match in re.finditer(r"\bsystem\s*\(\s*(\"(?:\\.|[^\"\\])*\")?", code):
        if match.group(1) is None:
            return deny("the awk program runs a shell command built at run time", subject)
        verdict = _shell(match.group(1)[1:-1], shell, subject)
        if verdict is not None:
            return verdict
    return None
