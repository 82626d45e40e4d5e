"""Judging interpreter one-liners (``python -c``, ``perl -e``, ``node -e`` …).

A one-liner is a program in another language, so it is opaque to a shell
parser. Python is parsed for real (``ast``): string constants are folded
(``os.path.expanduser('~')``, ``Path.home()``, simple assignments) and the
calls that matter are judged like the shell commands they amount to —
``shutil.rmtree`` as ``rm -r``, ``open(p, 'w')`` as a write, ``os.system``
and ``subprocess`` strings parsed as shell, ``exec`` of downloaded text as
remote execution, ``os.fork`` in a loop as a fork bomb. A recursive
deletion whose target cannot be folded is sent to ``ask``. The other
languages are scanned for a few well-known shapes (fork loops, ``system``
strings, socket + shell, eval of fetched code). Anything else a one-liner
does is allowed, like running a script file would be.
"""

from __future__ import annotations

import ast
import base64
import binascii
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from llmos.security.effects import judge_calls
from llmos.security.paths import Operation
from llmos.security.verdict import Verdict, ask, deny

#: Interpreter → the options that take a program text.
CODE_OPTIONS: dict[str, tuple[str, ...]] = {
    "python": ("-c",),
    "python2": ("-c",),
    "python3": ("-c",),
    "pypy": ("-c",),
    "pypy3": ("-c",),
    "perl": ("-e", "-E"),
    "ruby": ("-e",),
    "node": ("-e", "--eval", "-p", "--print"),
    "nodejs": ("-e", "--eval", "-p", "--print"),
    "deno": ("eval",),
    "bun": ("-e",),
    "php": ("-r",),
    "lua": ("-e",),
    "pwsh": ("-Command", "-c", "-command"),
    "powershell": ("-Command", "-c", "-command"),
    "Rscript": ("-e",),
    "osascript": ("-e",),
}
_NETWORK = re.compile(
    r"urlopen|urllib|requests\.|httpx|http\.client|LWP|Net::HTTP|URI\.open|"
    r"open-uri|fetch\(|DownloadString|Net\.WebClient|\birm\b|\biwr\b|"
    r"Invoke-WebRequest|Invoke-RestMethod|https?://|file_get_contents\(['\"]http",
    re.IGNORECASE,
)
_EVAL = re.compile(
    r"\b(exec|eval|iex|Invoke-Expression|instance_eval|compile|load|"
    r"Function)(\s*[\(\s]|\s*$)",
    re.IGNORECASE,
)
_FORK_LOOP = re.compile(
    r"fork\s*(\(\s*\))?\s*(while|until)\b|while\s*[\(\s]*(1|true)?[\)\s]*"
    r"\{?\s*(os\.|Process\.)?fork|for\s*\(\s*;\s*;\s*\)\s*\{?\s*fork"
)
_SOCKET = re.compile(
    r"socket|TCPSocket|IO::Socket|fsockopen|net\.connect|new\s+Net\.|"
    r"Net\.Sockets",
    re.IGNORECASE,
)
_SHELL_SPAWN = re.compile(
    r"/bin/(ba)?sh|\bpty\.spawn|\bexec[lv]p?e?\(|cmd\.exe|"
    r"child_process|proc_open|\bspawn\(",
    re.IGNORECASE,
)
_SHELL_STRING = re.compile(
    r"(?:system|exec|execSync|spawnSync|shell_exec|passthru|popen|Popen|%x)\s*[\(\{]?\s*"
    r"(['\"])(?P<cmd>(?:\\.|(?!\1).)+)\1|`(?P<tick>[^`]+)`"
)
_DELETE_CALL = re.compile(
    r"(?:rmtree|rm_rf|rm_r|remove_tree|rmSync|rmdirSync|rimraf|"
    r"FileUtils\.rm|Remove-Item)\s*[\(\s]\s*(['\"])(?P<path>[^'\"]+)\1"
)
_CRED_TEXT = re.compile(r"\.ssh/|\.aws/|\.gnupg|\.netrc|/etc/shadow|\.git-credentials")


@dataclass(frozen=True, slots=True)
class CodeChecks:
    """What a code judge needs from the shell policy."""

    path: Callable[[str, Operation], str | None]
    shell: Callable[[str], Verdict]
    home: str


def judge_code(language: str, code: str, checks: CodeChecks, subject: str) -> Verdict | None:
    """Judge a one-liner in ``language``; ``None`` when nothing dangerous is seen."""
    if language.startswith(("python", "pypy")):
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return _judge_text(language, code, checks, subject)
        return _PythonJudge(checks, subject).judge(tree)
    return _judge_text(language, code, checks, subject)


def _judge_text(language: str, code: str, checks: CodeChecks, subject: str) -> Verdict | None:
    """Pattern checks for languages without a parser here, then their calls' effects."""
    if _FORK_LOOP.search(code):
        return deny("fork bomb: the one-liner forks in a loop", subject)
    if re.search(r"/inet/(tcp|udp)/", code) or (_SOCKET.search(code) and _SHELL_SPAWN.search(code)):
        return deny("reverse shell: the one-liner connects a socket to a shell", subject)
    if _EVAL.search(code) and _NETWORK.search(code):
        return deny("runs code fetched from the network (eval of a download)", subject)
    if _CRED_TEXT.search(code.replace("~", checks.home)):
        return deny("the one-liner reads a credential file", subject)
    for match in _SHELL_STRING.finditer(code):
        inner = checks.shell(match.group("cmd") or match.group("tick") or "")
        if inner.decision != "allow":
            return Verdict(
                inner.decision,
                f"the one-liner runs a shell command: {inner.reason}",
                inner.command or subject,
            )
    for match in _DELETE_CALL.finditer(code):
        reason = checks.path(match.group("path").replace("~", checks.home, 1), "delete")
        if reason is not None:
            return deny(f"the one-liner {reason}", subject)

    def path(text: str, op: Operation) -> str | None:
        home = checks.home + text[1:] if text == "~" or text.startswith("~/") else text
        return checks.path(home, op)

    return judge_calls(language, code, path, checks.shell, subject)


_LOOPS = (ast.While, ast.For, ast.ListComp, ast.SetComp, ast.GeneratorExp)
_DELETE_FUNCS = {
    "rmtree": True,
    "remove": False,
    "unlink": False,
    "removedirs": True,
    "rmdir": False,
}
_SHELL_FUNCS = {
    "system",
    "popen",
    "run",
    "call",
    "check_call",
    "check_output",
    "Popen",
    "getoutput",
    "getstatusoutput",
}


class _PythonJudge:
    """Walks a Python AST and judges the calls that act on the system."""

    def __init__(self, checks: CodeChecks, subject: str, depth: int = 0) -> None:
        self.checks = checks
        self.subject = subject
        self.depth = depth
        self.names: dict[str, str] = {}

    def judge(self, tree: ast.AST) -> Verdict | None:
        source_names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        imported = {
            a.name.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.Import | ast.ImportFrom)
            for a in n.names
        }
        imported |= {
            n.module.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module
        }
        words = source_names | attrs | imported
        if "socket" in words and words & {"spawn", "dup2", "Popen", "call", "system", "run"}:
            return deny("reverse shell: the one-liner connects a socket to a process", self.subject)
        if words & {"exec", "eval", "compile"} and words & {
            "urlopen",
            "urllib",
            "requests",
            "httpx",
            "urlretrieve",
        }:
            return deny("runs code fetched from the network (exec of a download)", self.subject)
        for node in ast.walk(tree):
            if isinstance(node, _LOOPS) and any(
                isinstance(n, ast.Attribute) and n.attr in ("fork", "forkpty")
                for n in ast.walk(node)
            ):
                return deny("fork bomb: the one-liner forks in a loop", self.subject)
        verdict: Verdict | None = None
        for statement in getattr(tree, "body", []):
            verdict = self._statement(statement)
            if verdict is not None:
                return verdict
        return None

    def _statement(self, statement: ast.stmt) -> Verdict | None:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            value = self._fold(statement.value)
            if value is not None:
                self.names[statement.targets[0].id] = value
        for node in ast.walk(statement):
            if isinstance(node, ast.Call):
                verdict = self._call(node)
                if verdict is not None:
                    return verdict
        return None

    def _call(self, call: ast.Call) -> Verdict | None:
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        args = [self._fold(a) for a in call.args]
        if name in ("setuid", "setreuid", "seteuid") and args and args[0] == "0":
            return deny("privilege escalation: setuid(0) in a one-liner", self.subject)
        if name == "kill" and args and args[0] in ("-1",):
            return deny("kills every process (kill(-1, …))", self.subject)
        if name in _DELETE_FUNCS and isinstance(func, ast.Attribute) and call.args:
            return self._path(args[0], "delete", recursive=_DELETE_FUNCS[name])
        if name in ("unlink", "rmdir") and isinstance(func, ast.Attribute):
            return self._path(self._path_object(func.value), "delete", recursive=False)
        if name in ("write_text", "write_bytes", "touch", "chmod") and isinstance(
            func, ast.Attribute
        ):
            return self._path(self._path_object(func.value), "write")
        if name in ("read_text", "read_bytes") and isinstance(func, ast.Attribute):
            return self._path(self._path_object(func.value), "read")
        if name == "open" and args:
            mode = args[1] if len(args) > 1 else self._keyword(call, "mode") or "r"
            writes = mode is None or bool(set(mode) & set("wax+"))  # a mode not known: may write
            return self._path(args[0], "write" if writes else "read")
        if name in ("move", "rename", "replace") and len(args) == 2:
            return self._path(args[0], "delete", recursive=True) or self._path(args[1], "write")
        if name == "link" and isinstance(func, ast.Attribute) and len(args) == 2:
            return self._path(args[0], "write") or self._path(args[1], "write")  # same file
        if name == "symlink" and isinstance(func, ast.Attribute) and len(args) == 2:
            return self._path(args[1], "write")
        if name in ("copy", "copy2", "copyfile", "copytree") and len(args) == 2:
            return self._path(args[0], "read") or self._path(args[1], "write")
        if name in ("exec", "eval") and isinstance(func, ast.Name) and args and args[0]:
            return self._nested(args[0])
        if name in _SHELL_FUNCS or name.startswith(("exec", "spawn")):
            return self._shell(call, name)
        return None

    def _nested(self, code: str) -> Verdict | None:
        """``exec("…")`` of a string known here: judge that code too (bounded)."""
        if self.depth >= 4:
            return deny("the one-liner nests exec() too deeply to be checked", self.subject)
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        inner = _PythonJudge(self.checks, self.subject, self.depth + 1)
        return inner.judge(tree)

    def _shell(self, call: ast.Call, name: str) -> Verdict | None:
        first = call.args[0] if call.args else None
        line: str | None = None
        if isinstance(first, ast.List | ast.Tuple):
            parts = [self._fold(e) for e in first.elts]
            if all(p is not None for p in parts):
                line = shlex.join([p for p in parts if p is not None])
        elif name.startswith(("exec", "spawn")) and len(call.args) >= 2:
            parts = [self._fold(e) for e in call.args[1:]]
            if all(p is not None for p in parts):
                line = shlex.join([p for p in parts if p is not None])
        elif first is not None:
            line = self._fold(first)
        if line is None:
            return None
        inner = self.checks.shell(line)
        if inner.decision == "allow":
            return None
        return Verdict(
            inner.decision,
            f"the one-liner runs a shell command: {inner.reason}",
            inner.command or self.subject,
        )

    def _path(self, path: str | None, op: Operation, *, recursive: bool = True) -> Verdict | None:
        if path is None:
            if op == "delete" and recursive:
                return ask(
                    "the one-liner deletes a folder tree whose path cannot be worked out "
                    "here; approve it, or use `rm -r` with a literal path",
                    self.subject,
                )
            if op == "write":
                return deny(
                    "the one-liner writes a path computed at run time, which could be "
                    "outside the working directory; spell the path as a string literal",
                    self.subject,
                )
            return None
        reason = self.checks.path(path, op)
        return None if reason is None else deny(f"the one-liner {reason}", self.subject)

    def _path_object(self, node: ast.expr) -> str | None:
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", ""))
            in ("Path", "PurePath", "PosixPath")
            and node.args
        ):
            return self._fold(node.args[0])
        return self._fold(node)

    def _keyword(self, call: ast.Call, name: str) -> str | None:
        for keyword in call.keywords:
            if keyword.arg == name:
                return self._fold(keyword.value)
        return None

    def _fold(self, node: ast.expr) -> str | None:
        """The string value of an expression when it is a constant in disguise."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str | int):
            return str(node.value)
        if isinstance(node, ast.Name):
            return self.names.get(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Div):
            left, right = self._fold(node.left), self._fold(node.right)
            if left is None or right is None:
                return None
            return f"{left}/{right}" if isinstance(node.op, ast.Div) else left + right
        if isinstance(node, ast.JoinedStr):
            parts = [
                self._fold(v.value if isinstance(v, ast.FormattedValue) else v) for v in node.values
            ]
            return None if any(p is None for p in parts) else "".join(p or "" for p in parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = self._fold(node.operand)
            return None if inner is None else f"-{inner}"
        if isinstance(node, ast.Call):
            return self._fold_call(node)
        if isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
            key = self._fold(node.slice)
            return self.checks.home if key == "HOME" else None
        return None

    def _fold_call(self, node: ast.Call) -> str | None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        args = [self._fold(a) for a in node.args]
        if name == "home" and not node.args:
            return self.checks.home
        if name == "expanduser" and args and args[0] is not None:
            text = args[0]
            return self.checks.home + text[1:] if text.startswith("~") else text
        if name == "expanduser" and isinstance(func, ast.Attribute):
            inner = self._path_object(func.value)
            return None if inner is None else inner.replace("~", self.checks.home, 1)
        if name == "join" and args and all(a is not None for a in args):
            return "/".join(a for a in args if a is not None)
        if (
            name in ("Path", "PurePath", "PosixPath", "str", "abspath", "realpath")
            and len(args) == 1
        ):
            return args[0]
        if name == "getenv" and args and args[0] == "HOME":
            return self.checks.home
        if name in ("b64decode", "decodebytes", "standard_b64decode") and args and args[0]:
            try:
                return base64.b64decode(args[0]).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                return None
        if name == "decode" and isinstance(func, ast.Attribute):
            return self._fold(func.value)
        if name in ("getcwd", "cwd"):
            return "."
        return None
