"""The acceptance check: what the goal itself says must hold after a run.

Deterministic and free (no model call). From the goal's words it derives
:class:`Criteria` — files and folders to create, change, read or delete,
contents they should hold, commands that should have run — and after the run
checks them against the working directory and the run's actions.

Checks come in two strengths. A *hard* check is what the goal says without
doubt (a file it asks to create, a quoted content, a command in backticks):
if one fails, the run failed. A *soft* check is read from looser words ("a
file that says hello"): if one fails the run is ``unverified`` — a person or
``llmos traces verify`` decides. A goal that names nothing checkable leaves
the verdict undecided (``unverified``): the check never guesses a success.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from llmos.memory.normalize import Token, tokenize

Role = Literal["create", "modify", "delete", "read"]

_CREATE = frozenset(
    (  # noqa: SIM905 (one string of words reads better than a list of 40)
        "create write make generate save build produce output put touch scaffold init "
        "initialize initialise store export dump draft compose prepare emit setup set add "
        "new pack compress zip bundle"
    ).split()
)
_MODIFY = frozenset(
    (  # noqa: SIM905 (one string of words reads better than a list of 40)
        "edit modify update append fix change replace refactor insert prepend reformat "
        "patch correct rewrite extend improve tidy clean"
    ).split()
)
_DELETE = frozenset(["delete", "remove", "rm", "erase", "unlink"])
_READ = frozenset(
    (  # noqa: SIM905 (one string of words reads better than a list of 40)
        "read show print display cat count summarize summarise list explain describe "
        "analyze analyse parse check inspect find search grep open load view compare "
        "review tell look run execute test lint validate use convert import from of in"
    ).split()
)
_MOVE = frozenset({"move", "rename", "mv"})
_COPY = frozenset({"copy", "cp", "duplicate"})
#: A path right after one of these is where the verb's result goes.
_TO = frozenset({"to", "into", "as", "onto"})
#: Verbs whose "in FILE" is where their output goes ("list the result in renamed.txt").
_LISTS_INTO = frozenset({"list", "print", "record", "log", "dump"})
#: Verbs whose "to FILE" is a file that already exists ("append 'x' to log.txt").
_INTO_EXISTING = frozenset({"add", "append", "insert", "prepend"})
#: A path right after one of these is read, whatever the verb.
_SOURCE = frozenset({"of", "from"})
_VERBS = _CREATE | _MODIFY | _DELETE | _MOVE | _COPY | (_READ - {"of", "from", "in", "use"})
#: Words that open a clause about the artefact ("a Makefile … that removes build/").
_RELATIVE = frozenset({"that", "which", "so", "where", "whose"})
#: Words after which a verb starts a new action of the run ("… and write it to b.txt").
_CLAUSE = frozenset({"and", "then"})
#: A verb-looking word after one of these is a noun ("write the count to count.txt").
_DETERMINERS = frozenset(
    (  # noqa: SIM905 (one string of words reads better than a list of 40)
        "a an the this that these those each every its my your our their some all any no"
    ).split()
)

#: File names without a dot that people name in goals.
_BARE_FILES = re.compile(
    r"\b(Makefile|Dockerfile|Containerfile|Justfile|Procfile|Gemfile|Rakefile|Vagrantfile|"
    r"Jenkinsfile|LICENSE|README|CHANGELOG)\b(?!\.\w)"
)
#: Dotted words that are products or abbreviations, not files.
_NOT_FILES = frozenset(
    (  # noqa: SIM905 (one string of words reads better than a list of 40)
        "node.js vue.js next.js nuxt.js react.js express.js d3.js three.js chart.js "
        "deno.js socket.io asp.net ado.net e.g i.e etc. vs. a.m p.m u.s"
    ).split()
)
_FOLDER = re.compile(
    r"\b(?:folder|directory|dir)\s+(?:(?:named|called)\s+['\"`]?(?P<name>[\w.\-/]+?)['\"`]?"
    r"|['\"`](?P<quoted>[\w.\-/]+)['\"`]|(?P<bare>[\w.\-/]+?))(?=[\s,;:!?]|\.(?:\s|$)|$)"
    r"|\bmkdir\s+(?:-p\s+)?(?P<mk>[\w.\-/]+)",
    re.IGNORECASE,
)
#: Dot files short enough to pass for an extension.
_DOTFILES = frozenset({".env", ".npmrc", ".nvmrc", ".bashrc", ".zshrc", ".flake8", ".vimrc"})
#: A bare word after "folder" is its name only where the clause ends ("a folder docs.").
_CLAUSE_END = re.compile(r"\s*(?:[,;:!?]|\.(?:\s|$)|$)")
_BACKTICK = re.compile(r"`([^`\n]+)`")
_COMMAND_CUE = re.compile(r"\b(?:run|runs|running|execute|executing|with|using|via)\s*$", re.I)
_RUN_IMPERATIVE = re.compile(
    r"(?:^|[,;.]\s*|\b(?:and|then)\s+)(?:run|execute|test)\b(?!\s+(?:time|away|out)\b)",
    re.IGNORECASE,
)
_SAYS = re.compile(
    r"\b(?:that|which)?\s*(?:says|say|saying|reads|reading|containing|contains|"
    r"with\s+the\s+(?:text|content|contents|words?|line|message))\s+"
    r"(?P<text>(?:[^'\"`.,;:!?\n]|[.:](?=\S))+?)\s*"
    r"(?=\s(?:and|then|in|into|to|inside)\b|[.,;:!?](?:\s|$)|\n|$)",
    re.IGNORECASE,
)
#: Quoted text right after one of these is what should go away, not what should be there.
_NOT_WANTED = frozenset({"replace", "remove", "delete", "without", "not", "rename", "from"})


class Strength(StrEnum):
    HARD = "hard"
    SOFT = "soft"


@dataclass(frozen=True, slots=True)
class FileCriterion:
    """A file or folder the goal names, and what the run must have done with it."""

    path: str
    role: Role
    folder: bool = False


@dataclass(frozen=True, slots=True)
class ContentCriterion:
    """Text that should be in the files the goal creates or changes (or in the answer)."""

    text: str
    strength: Strength


@dataclass(frozen=True, slots=True)
class CommandCriterion:
    """A command the goal asks to run; ``command`` None: "run it" (the last command run)."""

    command: str | None


@dataclass(frozen=True, slots=True)
class Criteria:
    """Everything the goal says must hold; empty means the check cannot decide."""

    files: tuple[FileCriterion, ...] = ()
    contents: tuple[ContentCriterion, ...] = ()
    commands: tuple[CommandCriterion, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.files or self.contents or self.commands)

    def to_json(self) -> dict[str, Any]:
        """A compact form, for the corpus test and for people reading a verdict."""
        return {
            "files": sorted(f"{c.role}:{c.path}{'/' if c.folder else ''}" for c in self.files),
            "contents": sorted(f"{c.strength}:{c.text}" for c in self.contents),
            "commands": sorted(c.command or "<last>" for c in self.commands),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """One tool call of a run, as the check sees it."""

    tool: str
    input: Mapping[str, Any]
    ok: bool
    denied: bool = False
    exit_code: int | None = None
    output: str = ""


Verdict = Literal["passed", "failed", "undecided"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    what: str
    passed: bool
    strength: Strength


@dataclass(frozen=True, slots=True)
class Acceptance:
    """The check's verdict and each check's result (what failed, for the message)."""

    verdict: Verdict
    checks: tuple[CheckResult, ...] = ()
    reason: str = ""


# ---------------------------------------------------------------- deriving


def derive(goal: str) -> Criteria:
    """What ``goal`` says must hold after a run; pure, from the text alone."""
    tokens = tokenize(goal)
    files = _files(tokens) + _folders(goal) + _bare_files(goal)
    seen: dict[str, FileCriterion] = {}
    for item in files:
        key = _norm(item.path)
        before = seen.get(key)
        if before is None or _ROLE_ORDER[item.role] > _ROLE_ORDER[before.role]:
            seen[key] = item
    commands = _commands(goal)
    # Quoted text is what a file must hold; with no file to make it is often an input
    # ("count the words of 'one two three'"): then only a doubt if it is not in the answer.
    makes = any(c.role in ("create", "modify") and not c.folder for c in seen.values())
    contents = _quoted(tokens, commands, Strength.HARD if makes else Strength.SOFT) + _says(goal)
    return Criteria(files=tuple(seen.values()), contents=tuple(contents), commands=commands)


#: When a goal names one file twice, the stronger role wins ("read a.txt and delete a.txt").
_ROLE_ORDER = {"read": 0, "modify": 1, "create": 2, "delete": 3}


def _files(tokens: Sequence[Token]) -> list[FileCriterion]:
    found: list[FileCriterion] = []
    verb: str | None = None
    after_move_source = False
    relative = False  # inside "… that removes build/": what the artefact does, not the run
    for index, token in enumerate(tokens):
        previous = tokens[index - 1].text if index else ""
        if token.kind == "word":
            if token.text in _RELATIVE:
                relative = True
            noun = previous in _DETERMINERS
            if token.text in _VERBS and not noun and (not relative or previous in _CLAUSE):
                verb = token.text
                after_move_source = False
                relative = False
            continue
        if token.kind != "path" or not _is_file_name(token.text) or relative:
            continue
        role = _role(verb, previous, after_move_source, token.text.endswith("/"))
        if verb in _MOVE | _COPY and previous not in _TO:
            after_move_source = True
        found.append(FileCriterion(token.text.rstrip("/"), role, folder=token.text.endswith("/")))
    return found


def _role(verb: str | None, previous: str, after_source: bool, folder: bool = False) -> Role:
    if previous in _SOURCE:
        return "read"
    if verb in _LISTS_INTO and previous in ("in", "into") and not folder:
        return "create"  # "list its contents in contents.txt": the listing goes there
    if previous in _TO and verb is not None and verb not in _MOVE | _COPY:
        # "add a function to utils.py" changes it; "convert a.csv to b.json" makes b.json
        return "modify" if verb in _INTO_EXISTING else "create"
    if verb in _MOVE:
        return "create" if previous in _TO or after_source else "delete"
    if verb in _COPY:
        return "create" if previous in _TO or after_source else "read"
    if verb in _CREATE:
        return "create"
    if verb in _MODIFY:
        return "modify"
    if verb in _DELETE:
        return "delete"
    return "read"


def _is_file_name(text: str) -> bool:
    lowered = text.lower().rstrip("/")
    if lowered in _NOT_FILES or "://" in text:
        return False
    name = lowered.rsplit("/", 1)[-1]
    if "/" in lowered or text.endswith("/"):
        return True
    stem, _, ext = name.rpartition(".")
    if not stem:  # ".gitignore" is a file; ".py" ("all .py files") is a kind of file
        return name in _DOTFILES or len(name) > 6
    # "v1.2", "3.10": numbers, not files; an extension has a letter.
    return bool(ext) and any(c.isalpha() for c in ext) and len(ext) <= 10


def _folders(goal: str) -> list[FileCriterion]:
    found = []
    for match in _FOLDER.finditer(goal):
        if match.group("bare") and not _CLAUSE_END.match(goal, match.end()):
            continue  # "the reports directory into …": a word of the sentence, not a name
        name = (
            match.group("name")
            or match.group("quoted")
            or match.group("bare")
            or match.group("mk")
            or ""
        ).strip("/")
        if not name or name.lower() in {"a", "an", "the", "that", "which", "with", "for", "of"}:
            continue
        before = goal[: match.start()].lower().split()
        verb = next(
            (w.strip(",.;:") for w in reversed(before) if w.strip(",.;:") in _VERBS),
            "create" if match.group("mk") else None,
        )
        role: Role = "delete" if verb in _DELETE else "create" if verb in _CREATE else "read"
        found.append(FileCriterion(name, role, folder=True))
    return found


def _bare_files(goal: str) -> list[FileCriterion]:
    found = []
    for match in _BARE_FILES.finditer(goal):
        before = goal[: match.start()].lower().split()
        verb = next((w.strip(",.;:") for w in reversed(before) if w.strip(",.;:") in _VERBS), None)
        previous = before[-1] if before else ""
        found.append(FileCriterion(match.group(1), _role(verb, previous, False)))
    return found


def _commands(goal: str) -> tuple[CommandCriterion, ...]:
    found: list[CommandCriterion] = []
    for match in _BACKTICK.finditer(goal):
        if _COMMAND_CUE.search(goal[: match.start()]):
            found.append(CommandCriterion(match.group(1).strip()))
    if not found and _RUN_IMPERATIVE.search(goal):
        found.append(CommandCriterion(None))
    return tuple(found)


def _quoted(
    tokens: Sequence[Token], commands: Sequence[CommandCriterion], strength: Strength
) -> list[ContentCriterion]:
    skip = {c.command for c in commands if c.command}
    found = []
    for index, token in enumerate(tokens):
        if token.kind != "string" or not token.text.strip() or token.text in skip:
            continue
        previous = tokens[index - 1].text if index else ""
        if previous in _NOT_WANTED:
            continue
        found.append(ContentCriterion(token.text, strength))
    return found


def _says(goal: str) -> list[ContentCriterion]:
    found = []
    for match in _SAYS.finditer(goal):
        text = " ".join(match.group("text").split())
        if text and not _is_file_name(text.split()[-1]):
            found.append(ContentCriterion(text, Strength.SOFT))
    return found


def _norm(path: str) -> str:
    return path.strip().removeprefix("./").rstrip("/")


# ---------------------------------------------------------------- checking


def check(
    criteria: Criteria,
    cwd: Path,
    actions: Sequence[Action] | None,
    answer: str = "",
) -> Acceptance:
    """Judge a finished run against ``criteria``.

    ``actions`` None means the run's calls are not known (an orchestration's
    subtasks ran them): then only what is on disk is checked.
    """
    if criteria.empty:
        return Acceptance(
            "undecided",
            reason="the goal names nothing the check can verify (no file, folder, quoted "
            "content or command)",
        )
    results: list[CheckResult] = []
    folders = [c.path for c in criteria.files if c.folder and "/" not in c.path]
    for item in criteria.files:
        inside = folders if "/" not in item.path and item.role != "delete" else []
        results.extend(_check_file(item, cwd, actions, inside))
    targets = [c for c in criteria.files if c.role in ("create", "modify") and not c.folder]
    for content in criteria.contents:
        results.append(_check_content(content, targets, cwd, actions, answer))
    for command in criteria.commands:
        results.append(_check_command(command, actions))
    hard_failed = [r for r in results if not r.passed and r.strength is Strength.HARD]
    soft_failed = [r for r in results if not r.passed and r.strength is Strength.SOFT]
    if hard_failed:
        return Acceptance("failed", tuple(results), "; ".join(r.what for r in hard_failed))
    if soft_failed:
        return Acceptance("undecided", tuple(results), "; ".join(r.what for r in soft_failed))
    return Acceptance("passed", tuple(results), "; ".join(r.what for r in results))


def _check_file(
    item: FileCriterion,
    cwd: Path,
    actions: Sequence[Action] | None,
    folders: Sequence[str] = (),
) -> list[CheckResult]:
    kind = "folder" if item.folder else "file"
    # "a notes/ folder containing todo.md": the file may be in a folder the goal names.
    places = [cwd / item.path, *(cwd / folder / item.path for folder in folders)]
    exists = any(p.is_dir() if item.folder else p.exists() for p in places)
    results: list[CheckResult] = []
    if item.role == "delete":
        results.append(
            CheckResult(
                f"{item.path} was removed" if not exists else f"{item.path} still exists",
                not exists,
                Strength.HARD,
            )
        )
        return results
    results.append(
        CheckResult(
            f"{kind} {item.path} exists" if exists else f"{kind} {item.path} does not exist",
            exists,
            Strength.HARD,
        )
    )
    if actions is None:
        return results
    touched = _touched(item.path, actions, writes=item.role != "read")
    if item.role == "read":
        # Its content may have reached the model another way (a subtask's context): doubt only.
        what = "the run looked at" if touched else "the run never looked at"
        results.append(CheckResult(f"{what} {item.path}", touched, Strength.SOFT))
        return results
    what = "the run wrote" if touched else "no successful step of the run wrote"
    results.append(CheckResult(f"{what} {item.path}", touched, Strength.HARD))
    return results


def _touched(path: str, actions: Sequence[Action], *, writes: bool) -> bool:
    """A successful action that names ``path`` (a write for a file to create or change)."""
    wanted = _norm(path)
    base = wanted.rsplit("/", 1)[-1]
    for action in actions:
        if not action.ok:
            continue
        if writes and action.tool in ("Read", "Glob", "Grep", "LS"):
            continue
        for value in _strings(action.input):
            text = value.replace("\\", "/")
            named = _norm(text)
            if (
                named == wanted
                or named.endswith("/" + wanted)
                or wanted in text
                or (action.tool not in ("Write", "Edit", "Read") and base in text)
            ):
                return True
    return False


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


def _check_content(
    content: ContentCriterion,
    targets: Sequence[FileCriterion],
    cwd: Path,
    actions: Sequence[Action] | None,
    answer: str,
) -> CheckResult:
    wanted = _fold(content.text)
    if targets:
        places = [_read(cwd / t.path) for t in targets]
        where = ", ".join(t.path for t in targets)
    else:
        outputs = [a.output for a in actions or () if a.ok]
        places = [answer, *outputs]
        where = "the answer or the run's output"
    found = any(wanted in _fold(text) for text in places if text)
    what = f"{content.text!r} is in {where}" if found else f"{content.text!r} is not in {where}"
    return CheckResult(what, found, content.strength)


def _check_command(command: CommandCriterion, actions: Sequence[Action] | None) -> CheckResult:
    if actions is None:
        return CheckResult("commands were run by subtasks", True, Strength.SOFT)
    runs = [a for a in actions if a.tool == "Bash" and not a.denied]
    if command.command is not None:
        runs = [a for a in runs if _fold(command.command) in _fold(str(a.input.get("command", "")))]
        label = f"`{command.command}`"
        if not runs:
            return CheckResult(f"{label} was never run", False, Strength.SOFT)
    else:
        label = "the last command"
        if not runs:
            return CheckResult(
                "the goal says to run something and nothing was run", False, Strength.HARD
            )
    last = runs[-1]
    passed = last.ok and last.exit_code in (0, None)
    exit_note = f"exit {last.exit_code}" if last.exit_code is not None else "failed"
    what = f"{label} exited 0" if passed else f"{label} did not succeed ({exit_note})"
    return CheckResult(what, passed, Strength.HARD)


def _read(path: Path) -> str:
    try:
        if path.is_file() and path.stat().st_size <= 2_000_000:
            return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return ""


def _fold(text: str) -> str:
    return " ".join(text.lower().split())
