"""The security policy for shell commands: parse, unwrap, judge each simple command.

:func:`judge_command` walks the line into the simple commands bash would
run (:mod:`llmos.security.shell`), then judges each one with the working
directory it would have: redirections and operands against the path zones
(:mod:`llmos.security.paths`), program rules (:mod:`llmos.security.rules`),
what feeds an interpreter (a download, a decoded payload, a here-doc parsed
again), interpreter one-liners (:mod:`llmos.security.code`) and data sent
over the network. The first deny wins, then the first ask.

``ask`` is used for three things only: ``git push --force``, installing or
removing system-wide packages, and a one-liner deleting a tree whose path
cannot be worked out. A line that cannot be parsed is denied.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from llmos.security import programs
from llmos.security.code import CODE_OPTIONS, CodeChecks, judge_code
from llmos.security.command import SimpleCommand
from llmos.security.paths import Operation, Places, Zone, is_secret_name
from llmos.security.rules import RULES, options_and_operands
from llmos.security.shell import MAX_DEPTH, ShellSyntaxError, walk
from llmos.security.targets import check
from llmos.security.verdict import ALLOWED, Verdict, deny, worst
from llmos.security.words import Arg
from llmos.security.writers import judge_program

_HIDDEN = re.compile("[\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2060\ufeff]")
#: Programs that only look at names or print their arguments: operands are not read.
_NO_READ = frozenset(
    {
        "echo",
        "printf",
        "ls",
        "stat",
        "test",
        "[",
        "file",
        "du",
        "wc",
        "ssh",
        "ssh-add",
        "ssh-keygen",
        "realpath",
        "readlink",
        "dirname",
        "basename",
        "which",
        "type",
        "command",
        "mkdir",
        "touch",
        "rm",
        "unlink",
        "shred",
        "mv",
        "cp",
        "install",
        "ln",
        "rsync",
        "scp",
        "chmod",
        "chown",
        "chgrp",
        "find",
        "cd",
        "pushd",
        "export",
        "alias",
        "grep",
        "egrep",
        "fgrep",
        "rg",
        "ag",
        "awk",
        "sed",
        "tee",
        "truncate",
        "dd",
        "env",
        "sudo",
        "doas",
    }
)
_PATTERN_FIRST = frozenset({"grep", "egrep", "fgrep", "rg", "ag", "awk", "sed"})
_WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>", ">&"})
_ENV_DUMPERS = frozenset({"env", "printenv", "set", "export", "declare"})
_SENDERS = frozenset(
    {
        "curl",
        "wget",
        "nc",
        "ncat",
        "netcat",
        "socat",
        "telnet",
        "http",
        "xh",
        "scp",
        "sftp",
        "ftp",
        "openssl",
    }
)
_SOCKET_CLIENTS = frozenset({"nc", "ncat", "netcat", "socat", "telnet", "openssl"})
_CODE_LANGS = frozenset(CODE_OPTIONS)
_AWKS = frozenset({"awk", "gawk", "mawk", "nawk"})


def judge_command(
    command: str,
    *,
    cwd: Path,
    workspace: Path,
    home: Path | None = None,
    tmpdir: str | Literal["environ"] | None = "environ",
) -> Verdict:
    """Judge one bash command line as if run in ``cwd`` by an agent of ``workspace``.

    Example:
        >>> judge_command("rm -rf ~", cwd=ws / "output", workspace=ws).decision
        'deny'
        >>> judge_command("rm -rf build/", cwd=ws / "output", workspace=ws).decision
        'allow'
    """
    places = Places.of(workspace, home, workdir=cwd)
    if tmpdir == "environ":
        tmpdir = os.environ.get("TMPDIR")
    try:
        return _Judge(places, tmpdir).line(command, os.path.realpath(cwd), depth=0)
    except RecursionError:
        return deny("the command nests too deeply to be checked", None)
    except Exception as exc:  # the policy must answer, never crash: fail closed
        return deny(
            f"the policy could not check this command ({type(exc).__name__}: {exc}); "
            "it is refused. Simplify it, or put it in a script file",
            None,
        )


@dataclass(slots=True)
class _Judge:
    """Judges the simple commands of one line, remembering the files the line makes."""

    places: Places
    tmpdir: str | None = None
    downloaded: set[str] = field(default_factory=set)
    written: dict[str, str] = field(default_factory=dict)

    # -- whole lines --------------------------------------------------------------------------

    def line(self, line: str, cwd: str, *, depth: int) -> Verdict:
        if depth > MAX_DEPTH:
            return deny("commands nested too deeply (a shell running a shell running …)", line)
        if _HIDDEN.search(line):
            return deny(
                "the command holds invisible or bidirectional-control characters that "
                "hide what it runs",
                line[:200],
            )
        try:
            script = walk(line, cwd=cwd, home=self.places.home, tmpdir=self.tmpdir)
        except ShellSyntaxError as exc:
            return deny(
                f"the command cannot be parsed ({exc}); it is refused because it cannot "
                "be checked. Write it in plain bash (or put it in a script file)",
                None,
            )
        if script.findings:
            return deny(script.findings[0].reason, script.findings[0].text)
        verdicts: list[Verdict] = []
        for simple in script.commands:
            verdict = self.simple(simple, depth)
            if verdict.decision == "deny":
                return verdict
            verdicts.append(verdict)
        return worst(verdicts)

    def nested(self, code: str, cwd: str | None, depth: int) -> Verdict:
        return self.line(code, cwd or self.places.workdir, depth=depth + 1)

    # -- one simple command ---------------------------------------------------------------------

    def simple(self, command: SimpleCommand, depth: int) -> Verdict:
        checks = (
            self._redirects,
            self._unknown_program,
            self._operands_read,
            self._rule,
            self._program,
            self._interpreter,
            self._network,
            self._files_made,
            self._alias,
        )
        for check_one in checks:
            verdict = check_one(command, depth)
            if verdict is not None:
                return verdict
        return ALLOWED

    def path(self, command: SimpleCommand, arg: Arg, op: Operation) -> Verdict | None:
        """The rules' path check, as a verdict naming ``command``."""
        reason = check(self.places, arg, command.cwd, op)
        return None if reason is None else deny(reason, command.text)

    def _redirects(self, command: SimpleCommand, depth: int) -> Verdict | None:
        for redirect in command.redirects:
            target = redirect.target
            if target is None or redirect.op in ("<<", "<<-", "<<<"):
                continue
            if (target.text or "").startswith(("/dev/tcp/", "/dev/udp/")):
                return deny(
                    f"opens a raw network connection to {target.text} from the shell "
                    "(the reverse-shell pattern)",
                    command.text,
                )
            op: Operation = "write" if redirect.op in _WRITE_REDIRECTS else "read"
            verdict = self.path(command, target, op)
            if verdict is not None:
                return verdict
        return None

    def _unknown_program(self, command: SimpleCommand, depth: int) -> Verdict | None:
        if command.name is not None:
            if _HIDDEN.search(command.name):
                return deny("the program name hides characters", command.text)
            return None
        program = command.args[0]
        if program.origin:
            return deny(
                f"runs a program whose name comes from a {program.origin} source", command.text
            )
        for arg in command.args[1:]:
            text = arg.text
            if text is None or not (text.startswith(("/", "..")) or text == "~"):
                continue
            if check(self.places, arg, command.cwd, "delete") is not None:
                return deny(
                    f"runs a program whose name cannot be known here on {text}, "
                    "outside the workspace; name the program literally",
                    command.text,
                )
        return None

    def _operands_read(self, command: SimpleCommand, depth: int) -> Verdict | None:
        """Credentials must not be read by anything (the output reaches the model)."""
        if command.name in _NO_READ and command.name not in _PATTERN_FIRST:
            return None
        _, operands = options_and_operands(command.args)
        if command.name in _PATTERN_FIRST and not any(
            (a.text or "").startswith(("-e", "-f", "--regexp")) for a in command.args[1:]
        ):
            operands = operands[1:]
        values = [
            a for a in command.args[1:] if (a.text or "").startswith("--") and "=" in (a.text or "")
        ]
        inside = command.cwd is not None and self.places.zone(command.cwd) is Zone.INSIDE
        for arg in operands + [Arg(a.text.partition("=")[2]) for a in values if a.text]:
            if arg.text is None and arg.prefix:
                verdict = self.path(command, arg, "read")  # /proc/$PID/environ
                if verdict is not None:
                    return verdict
            if arg.text is None or arg.text.startswith("-"):
                continue
            text = arg.text[1:] if arg.text.startswith("@") else arg.text
            text = text[len("file://") :] if text.startswith("file://") else text
            if inside and "/" not in text and not is_secret_name(text) and not arg.glob:
                continue  # a plain name in a folder of the workspace stays in it
            verdict = self.path(command, Arg(text, text, arg.glob), "read")
            if verdict is not None:
                return verdict
        return None

    def _rule(self, command: SimpleCommand, depth: int) -> Verdict | None:
        rule_fn = RULES.get(command.name or "")
        if rule_fn is None and (command.name or "").startswith("mkfs"):
            rule_fn = RULES["mkfs"]
        return None if rule_fn is None else rule_fn(self, command)

    def _program(self, command: SimpleCommand, depth: int) -> Verdict | None:
        """What a program writes or runs through its own options and scripts (sed w, …)."""
        return judge_program(self, command, depth)

    # -- interpreters -------------------------------------------------------------------------

    def _interpreter(self, command: SimpleCommand, depth: int) -> Verdict | None:
        name = command.name or ""
        if name in programs.SHELLS or name in ("source", ".", "at", "batch"):
            return self._shell_input(command, depth)
        if name in _CODE_LANGS:
            return self._code(command, depth)
        if name in _AWKS:
            _, operands = options_and_operands(command.args, frozenset({"-F", "-v", "-f"}))
            program = operands[0].text if operands and "-f" not in command.argv else None
            return None if program is None else self._judge_code(command, program, depth)
        if name == "eval":
            return next(
                (
                    v
                    for a in command.args[1:]
                    if (v := _remote(a, command, "the string it evaluates"))
                ),
                None,
            )
        return None

    def _shell_input(self, command: SimpleCommand, depth: int) -> Verdict | None:
        args = command.args
        code = programs.shell_code(args) if command.name in programs.SHELLS else None
        if code is not None:
            return _remote(code, command, "the string it runs")
        operands = [a for a in args[1:] if not (a.text or "").startswith(("-", "+"))]
        reads_stdin = (
            command.name in ("at", "batch")
            or (command.name in programs.SHELLS and programs.shell_reads_stdin(args))
            or (bool(operands) and operands[0].text in ("/dev/stdin", "-"))
        )
        if operands and not reads_stdin:
            script = operands[0]
            verdict = _remote(script, command, "the script it runs")
            if verdict is None and script.content is not None:
                verdict = _refused_content(self.nested(script.content, command.cwd, depth), command)
            if verdict is not None or script.text is None or command.cwd is None:
                return verdict
            return self._ran_local(command, script.text, depth, "sh")
        if reads_stdin:
            return self._stdin(command, depth, "a shell")
        return None

    def _stdin(self, command: SimpleCommand, depth: int, what: str) -> Verdict | None:
        """Judge what is fed to an interpreter's standard input."""
        content = command.stdin_text
        if content is None and command.upstream:
            produced = programs.static_output(command.upstream)
            content = produced.output
            if produced.origin == "network" or any(
                u.name in programs.FETCHERS for u in command.upstream
            ):
                return deny(
                    f"pipes content from the network into {what} ({command.name}): "
                    "remote code execution",
                    command.text,
                )
            if content is None and produced.origin == "decoded":
                return deny(
                    f"pipes a decoded, hidden payload into {what} ({command.name})", command.text
                )
        if content is None:
            return None
        if what == "a shell":
            inner = self.nested(content, command.cwd, depth)
        else:
            inner = self._judge_code(command, content, depth) or ALLOWED
        if inner.decision == "allow":
            return None
        return Verdict(
            inner.decision,
            f"{command.name} runs what it reads on its input: {inner.reason}",
            inner.command,
        )

    def _code(self, command: SimpleCommand, depth: int) -> Verdict | None:
        name = command.name or ""
        options = CODE_OPTIONS[name]
        args = command.args
        for i, arg in enumerate(args[1:-1], start=1):
            text = arg.text or ""
            if text in options or (
                text.startswith("-")
                and not text.startswith("--")
                and len(options[0]) == 2
                and text[-1] == options[0][1]
                and name not in ("pwsh", "powershell")
            ):
                code = args[i + 1]
                verdict = _remote(code, command, "the code it runs")
                if verdict is not None or code.text is None:
                    return verdict
                if re.search(r"stdin|STDIN|<>", code.text) and any(
                    u.name in programs.FETCHERS for u in command.upstream
                ):
                    return deny(
                        f"{name} runs code it reads from a network download on its "
                        "standard input: remote code execution",
                        command.text,
                    )
                return self._judge_code(command, code.text, depth)
        operands = [a for a in args[1:] if not (a.text or "").startswith("-")]
        if "-m" in [a.text for a in args]:
            return None
        if not operands or operands[0].text in ("-", "/dev/stdin"):
            return self._stdin(command, depth, f"the {name} interpreter")
        script = operands[0]
        verdict = _remote(script, command, "the script it runs")
        if verdict is None and script.content is not None:
            inner = self._judge_code(command, script.content, depth)
            verdict = None if inner is None else _refused_content(inner, command)
        if verdict is not None or script.text is None:
            return verdict
        return self._ran_local(command, script.text, depth, name)

    def _judge_code(self, command: SimpleCommand, code: str, depth: int) -> Verdict | None:
        cwd = command.cwd or self.places.workdir

        def path_reason(text: str, op: Operation) -> str | None:
            return check(self.places, Arg(text, text), cwd, op)

        def shell(line: str) -> Verdict:
            return self.nested(line, cwd, depth)

        checks = CodeChecks(path=path_reason, shell=shell, home=self.places.home)
        return judge_code(command.name or "", code, checks, command.text)

    # -- network --------------------------------------------------------------------------------

    def _network(self, command: SimpleCommand, depth: int) -> Verdict | None:
        if command.name not in _SENDERS:
            return None
        if command.name in _SOCKET_CLIENTS and any(
            u.name in programs.SHELLS and programs.shell_reads_stdin(u.args)
            for u in command.upstream
        ):
            return deny(
                f"reverse shell: pipes a shell into {command.name}, a network connection",
                command.text,
            )
        for upstream in command.upstream:
            if upstream.name in _ENV_DUMPERS and len(upstream.args) <= 2:
                return deny(
                    "sends the environment (which holds API keys) over the network", command.text
                )
            secret = next(
                (a.text for a in upstream.args[1:] if a.text and is_secret_name(a.text)), None
            )
            if secret:
                return deny(f"sends {secret}, a secrets file, over the network", command.text)
        for i, arg in enumerate(command.args[1:], start=1):
            text = arg.text or ""
            previous = command.args[i - 1].text or ""
            uploaded = None
            if "@" in text and previous in (
                "-d",
                "--data",
                "--data-binary",
                "--data-raw",
                "--data-urlencode",
                "-F",
                "--form",
            ):
                uploaded = text.split("@", 1)[1].split(";")[0]
            elif previous in ("-T", "--upload-file") or text.startswith(
                ("--post-file=", "--body-file=")
            ):
                uploaded = text.partition("=")[2] if text.startswith("--") else text
            if uploaded and uploaded != "-" and is_secret_name(uploaded):
                return deny(f"uploads {uploaded}, a secrets file", command.text)
        for redirect in command.redirects:
            target = redirect.target
            if (
                redirect.op == "<"
                and target is not None
                and target.text
                and is_secret_name(target.text)
            ):
                return deny(f"sends {target.text}, a secrets file, over the network", command.text)
        return None

    def _files_made(self, command: SimpleCommand, depth: int) -> Verdict | None:
        """Remember what this line downloads, writes and links; judge what it runs of them."""
        if command.cwd is None:
            return None
        if command.name in ("curl", "wget"):
            for path in _download_targets(command):
                verdict = self.path(command, Arg(path, path), "write")
                if verdict is not None:
                    return verdict
                self.downloaded.add(self.places.resolve(path, command.cwd))
        output = programs.static_output([*command.upstream, command]).output
        for redirect in command.redirects:
            target = redirect.target
            if redirect.op not in (">", ">>", ">|") or target is None or not target.text:
                continue
            path = self.places.resolve(target.text, command.cwd)
            if command.name in programs.FETCHERS:
                self.downloaded.add(path)
            elif output is not None:
                before = self.written.get(path, "") if redirect.op == ">>" else ""
                self.written[path] = before + output
        if command.name == "ln":
            self._link(command)
        program = command.args[0].text or ""
        if "/" in program:
            return self._ran_local(command, program, depth, "sh")
        return None

    def _link(self, command: SimpleCommand) -> None:
        """``ln -s / r`` then ``rm -rf r/``: later paths through ``r`` resolve to ``/``."""
        _, operands = options_and_operands(command.args, frozenset({"-t", "-S"}))
        texts = [o.text for o in operands]
        if len(texts) == 2 and all(texts) and command.cwd is not None:
            target, link = (self.places.resolve(t or "", command.cwd) for t in texts)
            self.places.links[link] = target

    def _ran_local(
        self, command: SimpleCommand, script: str, depth: int, language: str
    ) -> Verdict | None:
        """Running a file this same line downloaded or wrote is judged by where it came from."""
        if command.cwd is None:
            return None
        path = self.places.resolve(script, command.cwd)
        if path in self.downloaded:
            return deny(
                f"runs {script}, downloaded by the same command: remote code execution",
                command.text,
            )
        content = self.written.get(path)
        if content is None:
            return None
        if language == "sh":
            inner = self.nested(content, command.cwd, depth)
        else:
            inner = self._judge_code(replace(command, name=language), content, depth) or ALLOWED
        if inner.decision == "allow":
            return None
        return Verdict(
            inner.decision,
            f"runs {script}, written by the same command: {inner.reason}",
            inner.command or command.text,
        )

    def _alias(self, command: SimpleCommand, depth: int) -> Verdict | None:
        if command.name != "alias":
            return None
        for arg in command.args[1:]:
            if arg.text and "=" in arg.text:
                inner = self.nested(arg.text.partition("=")[2], command.cwd, depth)
                if inner.decision != "allow":
                    return Verdict(
                        inner.decision, f"defines an alias that {inner.reason}", inner.command
                    )
        return None


def _refused_content(inner: Verdict, command: SimpleCommand) -> Verdict | None:
    if inner.decision == "allow":
        return None
    return Verdict(
        inner.decision,
        f"{command.name} runs a <(…) file: {inner.reason}",
        inner.command or command.text,
    )


def _remote(arg: Arg, command: SimpleCommand, what: str) -> Verdict | None:
    if arg.origin == "network":
        return deny(
            f"{command.name} runs code fetched from the network ({what}): remote code execution",
            command.text,
        )
    if arg.origin == "decoded" and arg.text is None:
        return deny(f"{command.name} runs a decoded, hidden payload ({what})", command.text)
    return None


def _download_targets(command: SimpleCommand) -> list[str]:
    texts = [a.text or "" for a in command.args[1:]]
    targets: list[str] = []
    urls = [t for t in texts if "://" in t]
    output_flags = ("-o", "--output") if command.name == "curl" else ("-O", "--output-document")
    for i, text in enumerate(texts):
        if text in output_flags and i + 1 < len(texts):
            targets.append(texts[i + 1])
        elif text.startswith(("--output-document=", "--output=")):
            targets.append(text.partition("=")[2])
    remote_names = [os.path.basename(urlparse(u).path) for u in urls]
    if (command.name == "wget" and not targets) or (
        command.name == "curl"
        and any(t in ("-O", "--remote-name") or re.fullmatch(r"-\w*O\w*", t) for t in texts)
    ):
        targets += [n for n in remote_names if n]
    return [t for t in targets if t and t != "-"]
