"""From a command line to the simple commands bash would run.

The line is parsed with bashlex (cached, since agents repeat themselves) and
walked the way bash would run it: lists, pipelines, subshells, loops,
functions, ``$(…)`` and ``<(…)`` substitutions, redirections and here-docs.
Wrappers that run another command (``env``, ``sudo``, ``timeout``,
``xargs``, ``bash -c``, ``eval`` …) are unwrapped, and the strings they run
are parsed again, recursively. Variables assigned on the line, ``for``
loops, ``cd`` and ``read`` fed by ``find`` are followed, so the policy sees
each program with the arguments and working directory it would really get.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from llmos.security import programs
from llmos.security.command import Redirect, SimpleCommand, program_name
from llmos.security.words import Arg, Substituted, evaluate_word, join_known

#: Strings run by strings run by … deeper than this are refused.
MAX_DEPTH = 6
_QUOTED_HEREDOC = re.compile(r"<<(-?)\s*(['\"])([A-Za-z_0-9]+)\2|<<(-?)\s*\\([A-Za-z_0-9]+)")
_DOUBLE_BRACKET = re.compile(r"(?<![\w\[])\[\[(?=\s)|(?<=\s)\]\](?![\w\]])")
_UNSAFE_ARITHMETIC = re.compile(r"[;'\"`\\\n]|\$\(")
_TIME_KEYWORD = re.compile(r"(^|[;&|(!{]\s*|\n\s*|\bthen\s+|\bdo\s+|\belse\s+)time(\s+-p)?(?=\s)")


class ShellSyntaxError(Exception):
    """The line (or a string it runs) is not bash that bashlex can read."""


@dataclass(frozen=True, slots=True)
class Finding:
    """A danger seen in the structure of the line rather than in one command."""

    reason: str
    text: str


@dataclass(slots=True)
class Script:
    """Everything a command line would run, in order."""

    commands: list[SimpleCommand] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


@dataclass(slots=True)
class _State:
    cwd: str | None
    variables: dict[str, tuple[str, ...]]

    def copy(self) -> _State:
        return _State(self.cwd, dict(self.variables))


def _preprocess(line: str) -> str:
    """Rewrite constructs bashlex 0.18 cannot read into equivalents it can."""
    if "<<" in line:
        line = _QUOTED_HEREDOC.sub(
            lambda m: f"<<{m.group(1) or m.group(4) or ''}{m.group(3) or m.group(5)}", line
        )
    if "[[" in line:
        line = _DOUBLE_BRACKET.sub(lambda m: m.group(0)[0], line)
    if "time" in line:
        line = _TIME_KEYWORD.sub(lambda m: m.group(1), line)
    if "$((" in line:
        line = _replace_arithmetic(line)
    return line


def _replace_arithmetic(line: str) -> str:
    """``$((…))`` becomes ``0``: its value never matters here, and bashlex cannot read it.

    Only a plain arithmetic body is replaced (no quotes, ``;``, newline,
    backslash or substitution, closed by ``))``), so a ``$((`` inside a
    string can never swallow the commands after it.
    """
    out: list[str] = []
    i = 0
    while True:
        start = line.find("$((", i)
        if start < 0:
            out.append(line[i:])
            return "".join(out)
        depth, j = 0, start + 1
        while j < len(line):
            if line[j] == "(":
                depth += 1
            elif line[j] == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        body = line[start + 3 : j - 1]
        plain = (
            j < len(line)
            and line[j - 1] == ")"
            and not _UNSAFE_ARITHMETIC.search(body)
            and (start == 0 or line[start - 1] != "\\")
        )
        out.append(line[i:start] + ("0" if plain else line[start : j + 1]))
        i = j + 1


def clear_parse_cache() -> None:
    """Forget cached parses (benchmarks measure cold decisions with it)."""
    _parse_cached.cache_clear()


@lru_cache(maxsize=4096)
def _parse_cached(line: str) -> tuple[tuple[Any, ...], str] | tuple[None, str]:
    """bashlex trees for ``line`` (or the parse error), cached: the parser is the slow part.

    bashlex is imported here, not at the top: building its grammar costs about 0.1 s,
    which a command that judges nothing (``llmos --version``) should not pay.
    """
    import bashlex

    text = _preprocess(line)
    try:
        return tuple(bashlex.parse(text)), text
    except Exception as exc:  # bashlex raises many kinds; each one means "not readable"
        return None, f"{type(exc).__name__}: {exc}"


def parse(line: str) -> tuple[tuple[Any, ...], str]:
    """The bashlex trees and the (pre-processed) text their positions refer to."""
    if not line.strip() or (line.lstrip().startswith("#") and "\n" not in line):
        return (), line
    trees, text = _parse_cached(line)
    if trees is None:
        raise ShellSyntaxError(text)
    return trees, text


def walk(line: str, *, cwd: str, home: str, tmpdir: str | None = None) -> Script:
    """Everything ``line`` would run, starting in ``cwd`` with ``$HOME`` = ``home``.

    ``tmpdir`` is ``$TMPDIR`` as the command's environment has it: when it is
    unset, ``"$TMPDIR/x"`` is ``/x`` to bash, so it is unknown here, not ``/tmp``.
    """
    variables: dict[str, tuple[str, ...]] = {"HOME": (home,), "PWD": (cwd,), "IFS": (" \t\n",)}
    if tmpdir:
        variables["TMPDIR"] = (tmpdir,)
    walker = _Walker(Script())
    walker.run_string(line, _State(cwd, variables), depth=0, upstream=(), stdin_text=None)
    return walker.script


class _Walker:
    """Visits bashlex trees in execution order and collects simple commands."""

    def __init__(self, script: Script) -> None:
        self.script = script
        #: Functions and aliases defined on the line whose body moves the shell (``cd``)
        #: or sets variables: after a call, those are unknown (it depends on when it runs).
        self.movers: dict[str, _Effect] = {}

    # -- entry points ---------------------------------------------------------------

    def run_string(
        self,
        line: str,
        state: _State,
        *,
        depth: int,
        upstream: tuple[SimpleCommand, ...],
        stdin_text: str | None,
    ) -> None:
        if depth > MAX_DEPTH:
            self.script.findings.append(
                Finding(
                    f"commands nested more than {MAX_DEPTH} levels deep (bash -c inside "
                    "eval inside …) cannot be checked",
                    line[:200],
                )
            )
            return
        trees, text = parse(line)
        for tree in trees:
            self._node(tree, _Ctx(text, state, depth, upstream, stdin_text, concurrent=False))

    # -- tree walking -----------------------------------------------------------------

    def _node(self, node: Any, ctx: _Ctx) -> list[SimpleCommand]:
        """Walk one node; returns the simple commands it runs at its own level."""
        kind = node.kind
        if kind == "command":
            return self._command(node, ctx)
        if kind == "list":
            return self._list(node.parts, ctx)
        if kind == "pipeline":
            return self._pipeline(node, ctx)
        if kind == "compound":
            inner = ctx.with_state(ctx.state.copy()) if _is_subshell(node) else ctx
            ran = self._list(node.list, inner)
            redirects = tuple(self._redirect(r, ctx) for r in node.redirects or ())
            if redirects:
                self.script.commands.append(
                    SimpleCommand(
                        args=(Arg(":", ":"),),
                        name=":",
                        text=_text(ctx.source, node),
                        cwd=ctx.state.cwd,
                        redirects=redirects,
                        upstream=ctx.upstream,
                    )
                )
            return ran
        if kind in ("if", "while", "until"):
            return self._list(node.parts, ctx)
        if kind == "for":
            return self._for(node, ctx)
        if kind == "function":
            return self._function(node, ctx)
        if kind in ("reservedword", "operator", "pipe"):
            return []
        raise ShellSyntaxError(f"unsupported bash construct {kind!r}")

    def _list(self, parts: list[Any], ctx: _Ctx) -> list[SimpleCommand]:
        ran: list[SimpleCommand] = []
        for index, part in enumerate(parts):
            if part.kind in ("operator", "reservedword", "pipe"):
                continue
            following = parts[index + 1] if index + 1 < len(parts) else None
            concurrent = following is not None and getattr(following, "op", None) == "&"
            ran += self._node(part, replace(ctx, concurrent=ctx.concurrent or concurrent))
        return ran

    def _pipeline(self, node: Any, ctx: _Ctx) -> list[SimpleCommand]:
        ran: list[SimpleCommand] = []
        upstream = ctx.upstream
        elements = [p for p in node.parts if p.kind not in ("pipe", "reservedword")]
        for position, element in enumerate(elements):
            piped = position < len(elements) - 1 or bool(upstream)
            element_ctx = replace(
                ctx,
                upstream=upstream,
                stdin_text=None if position else ctx.stdin_text,
                concurrent=ctx.concurrent or piped,
            )
            if position and element.kind != "command":
                element_ctx = element_ctx.with_state(ctx.state.copy())
            produced = self._node(element, element_ctx)
            ran += produced
            upstream = upstream + tuple(produced)
        return ran

    def _for(self, node: Any, ctx: _Ctx) -> list[SimpleCommand]:
        parts = node.parts
        name = parts[1].word if len(parts) > 1 and parts[1].kind == "word" else None
        values: list[Arg] = []
        saw_in = False
        body: list[Any] = []
        for part in parts[2:]:
            if part.kind == "reservedword" and part.word == "in":
                saw_in = True
            elif part.kind == "word" and saw_in and not body:
                values += self._word(part, ctx)
            elif part.kind not in ("reservedword", "word"):
                body.append(part)
        if name:
            known = [a.text for a in values]
            if saw_in and all(v is not None for v in known):
                ctx.state.variables[name] = tuple(v for v in known if v is not None)
            else:
                ctx.state.variables.pop(name, None)
        return self._list(body, ctx)

    def _function(self, node: Any, ctx: _Ctx) -> list[SimpleCommand]:
        name = node.name.word
        body_ctx = ctx.with_state(ctx.state.copy())
        before = len(self.script.commands)
        self._node(node.body, body_ctx)
        changed = {
            k
            for k in set(body_ctx.state.variables) | set(ctx.state.variables)
            if body_ctx.state.variables.get(k) != ctx.state.variables.get(k)
        }
        moved = body_ctx.state.cwd != ctx.state.cwd
        if moved or changed:
            self.movers[name] = _Effect(moves=moved, variables=frozenset(changed))
        calls = [c for c in self.script.commands[before:] if c.name == name]
        if len(calls) >= 2 or any(c.concurrent or c.upstream for c in calls):
            self.script.findings.append(
                Finding(
                    f"fork bomb: the function {name!r} starts copies of itself "
                    "(in a pipeline or in the background) until the machine stalls",
                    _text(ctx.source, node),
                )
            )
        return []

    # -- simple commands ------------------------------------------------------------------

    def _command(self, node: Any, ctx: _Ctx) -> list[SimpleCommand]:
        words: list[Arg] = []
        redirects: list[Redirect] = []
        assigns: list[tuple[str, Arg]] = []
        stdin_text = ctx.stdin_text
        for part in node.parts:
            if part.kind == "assignment" and not words:
                name, _, _ = part.word.partition("=")
                value = self._assignment_value(part, ctx)
                assigns.append((name.rstrip("+"), value))
            elif part.kind in ("word", "assignment"):
                words += self._word(part, ctx)
            elif part.kind == "redirect":
                redirect = self._redirect(part, ctx)
                redirects.append(redirect)
                if redirect.op == "<<<" and redirect.target is not None:
                    stdin_text = None if redirect.target.text is None else redirect.target.text
                elif redirect.heredoc is not None:
                    stdin_text = redirect.heredoc
        text = _text(ctx.source, node)
        if not words:
            for name, value in assigns:
                _assign(ctx.state, name, value)
            if not redirects:
                return []
            words = [Arg(":", ":")]  # a bare redirection (`> /dev/sda`) still opens the file
        command = SimpleCommand(
            args=tuple(words),
            name=program_name(words[0].text),
            text=text,
            cwd=ctx.state.cwd,
            redirects=tuple(redirects),
            upstream=ctx.upstream,
            stdin_text=stdin_text,
            concurrent=ctx.concurrent,
            assigns=tuple(n for n, _ in assigns),
        )
        env = ctx.state.copy()
        for name, value in assigns:
            _assign(env, name, value)
        return self._emit(command, ctx, env)

    def _emit(self, command: SimpleCommand, ctx: _Ctx, env: _State) -> list[SimpleCommand]:
        """Record ``command``, follow its effect on the shell, unwrap what it runs."""
        self.script.commands.append(command)
        self._shell_effect(command, ctx)
        for inner in programs.unwrap(command):
            if isinstance(inner, programs.RunString):
                inner_state = env.copy()
                if inner.cwd is not None:
                    inner_state.cwd = inner.cwd
                self._run_nested(inner.code, inner_state, ctx, command)
            else:
                wrapped = replace(inner, wrapped_by=(*command.wrapped_by, command.name or "?"))
                self._emit(wrapped, ctx, env)
        return [command]

    def _run_nested(self, code: str, state: _State, ctx: _Ctx, outer: SimpleCommand) -> None:
        try:
            self.run_string(
                code,
                state,
                depth=ctx.depth + 1,
                upstream=outer.upstream,
                stdin_text=outer.stdin_text,
            )
        except ShellSyntaxError as exc:
            self.script.findings.append(
                Finding(
                    f"{outer.name} runs a string that cannot be parsed ({exc}); it is refused "
                    "because it cannot be checked",
                    outer.text,
                )
            )

    def _shell_effect(self, command: SimpleCommand, ctx: _Ctx) -> None:
        """``cd``, ``export``, ``read``, ``unset`` change what later commands see."""
        state, argv = ctx.state, command.argv
        effect = self.movers.get(command.name or "")
        if effect is not None:  # a function or alias that moves the shell: where to is unknown
            if effect.moves:
                state.cwd = None
                state.variables.pop("PWD", None)
            for name in effect.variables:
                state.variables.pop(name, None)
        if command.name == "alias":
            for arg in command.args[1:]:
                name, eq, value = (arg.text or "").partition("=")
                if eq and re.search(r"\b(cd|pushd|popd)\b", value):
                    self.movers[name] = _Effect(moves=True, variables=frozenset())
        if command.name == "popd" and not command.wrapped_by:
            state.cwd = None
            state.variables.pop("PWD", None)
        if command.name in ("cd", "pushd") and not command.wrapped_by:
            targets = [a for a in argv[1:] if a is None or not a.startswith("-")]
            cdpath = "CDPATH" in state.variables or "CDPATH" in command.assigns
            by_cdpath = (
                bool(targets)
                and targets[0] is not None
                and cdpath
                and not targets[0].startswith(("/", "./", "../"))
                and targets[0] not in (".", "..")
            )
            if not targets:
                state.cwd = (state.variables.get("HOME") or (None,))[0]
            elif targets[0] is None or state.cwd is None or targets[0] == "-" or by_cdpath:
                state.cwd = None
            else:
                state.cwd = programs.join_path(state.cwd, targets[0])
            state.variables.pop("OLDPWD", None)
            if state.cwd is None:
                state.variables.pop("PWD", None)
            else:
                state.variables["PWD"] = (state.cwd,)
        elif command.name in ("export", "declare", "typeset", "local", "readonly"):
            for arg in command.args[1:]:
                if arg.text is not None and "=" in arg.text and not arg.text.startswith("-"):
                    name, _, value = arg.text.partition("=")
                    state.variables[name] = (_expand_tilde(value, state),)
        elif command.name == "unset":
            for unset in argv[1:]:
                if unset is not None:
                    state.variables.pop(unset, None)
        elif command.name in ("read", "mapfile", "readarray"):
            names = [a for a in argv[1:] if a is not None and not a.startswith("-")]
            item = programs.item_source(command.upstream, command.cwd)
            for name in names[-1:] if command.name != "read" else names:
                if item is None:
                    state.variables.pop(name, None)
                else:
                    state.variables[name] = tuple(item)

    # -- words, substitutions, redirections --------------------------------------------------

    def _word(self, node: Any, ctx: _Ctx) -> list[Arg]:
        return evaluate_word(
            ctx.source, node, ctx.state.variables, lambda part: self._substitution(part, ctx)
        )

    def _assignment_value(self, node: Any, ctx: _Ctx) -> Arg:
        args = self._word(node, ctx)
        joined = join_known(args)
        text = None if joined is None else joined.partition("=")[2]
        raw_value = _text(ctx.source, node).partition("=")[2]
        if text is not None and raw_value.startswith("~") and text.startswith("~"):
            text = _expand_tilde(text, ctx.state)
        origin = next((a.origin for a in args if a.origin), "")
        return Arg(text, "", False, origin)

    def _substitution(self, part: Any, ctx: _Ctx) -> Substituted:
        """Walk a ``$(…)``/``<(…)`` (its commands are judged too) and guess its output."""
        sub_ctx = replace(
            ctx.with_state(ctx.state.copy()), upstream=(), stdin_text=None, concurrent=False
        )
        produced = self._node(part.command, sub_ctx)
        return programs.static_output(produced)

    def _redirect(self, node: Any, ctx: _Ctx) -> Redirect:
        target = node.output
        fd = node.input if isinstance(node.input, int) else None
        heredoc = None
        if getattr(node, "heredoc", None) is not None:
            body = node.heredoc.value
            heredoc = body.rsplit("\n", 1)[0] if "\n" in body else ""
        if isinstance(target, int) or target is None:
            return Redirect(node.type, None, fd, heredoc)
        args = self._word(target, ctx)
        arg = args[0] if len(args) == 1 else Arg(None, "", True)
        return Redirect(node.type, arg, fd, heredoc)


@dataclass(frozen=True, slots=True)
class _Effect:
    """What calling a function or alias does to the shell that calls it."""

    moves: bool
    variables: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Ctx:
    source: str
    state: _State
    depth: int
    upstream: tuple[SimpleCommand, ...]
    stdin_text: str | None
    concurrent: bool

    def with_state(self, state: _State) -> _Ctx:
        return replace(self, state=state)


def _assign(state: _State, name: str, value: Arg) -> None:
    if value.text is None:
        state.variables.pop(name, None)
    else:
        state.variables[name] = (value.text,)


def _expand_tilde(value: str, state: _State) -> str:
    """Assignments expand a leading ``~`` (``D=~/x``), unlike other expansions' results."""
    home = state.variables.get("HOME")
    if home and (value == "~" or value.startswith("~/")):
        return home[0] + value[1:]
    return value


def _is_subshell(node: Any) -> bool:
    first = node.list[0] if node.list else None
    return first is not None and first.kind == "reservedword" and first.word == "("


def _text(source: str, node: Any) -> str:
    start, end = node.pos
    return source[start:end]
