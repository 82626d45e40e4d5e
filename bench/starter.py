"""The starter library's recipes: each everyday goal, the scripted turns that do it, and how
to check it, recorded with other values too.

``scripts/make_starter.py`` learns every case with the scripted provider in a
throwaway state folder (so each trace is a real, judged recording with real
postconditions), signs it with the starter key and writes it to
``src/llmos/starter/traces/``. ``tests/memory/test_starter.py`` replays every
shipped trace from these cases, with the recorded values and with others, and
checks the files each one leaves.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos.memory.trace import Step

#: A file that must exist after the run: its exact content, or None for "exists, any content".
Expect = Mapping[str, str | None]

_GITIGNORE_PYTHON = """\
__pycache__/
*.py[cod]
*.egg-info/
.eggs/
build/
dist/
.venv/
venv/
.env
.pytest_cache/
.mypy_cache/
.ruff_cache/
.coverage
htmlcov/
"""
_GITIGNORE_NODE = """\
node_modules/
dist/
build/
coverage/
.env
npm-debug.log*
yarn-error.log*
.DS_Store
"""
_EDITORCONFIG = """\
root = true

[*]
charset = utf-8
end_of_line = lf
insert_final_newline = true
trim_trailing_whitespace = true
indent_style = space
indent_size = 4

[*.{json,yml,yaml,toml}]
indent_size = 2

[Makefile]
indent_style = tab

[*.md]
trim_trailing_whitespace = false
"""
_CSV = "name,qty\napple,3\npear,5\n"
_CSV_JSON = (
    '[\n  {\n    "name": "apple",\n    "qty": "3"\n  },\n'
    '  {\n    "name": "pear",\n    "qty": "5"\n  }\n]\n'
)
_JSON = '[{"name": "apple", "qty": 3}, {"name": "pear", "qty": 5}]\n'
_NAMES = "carol\nalice\nbob\nalice\n"
_NOTES = "buy milk\nTODO call the bank\nwrite report\nTODO water plants\n"


def _bash(command: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": "Bash", "input": {"command": command}}]}


def _write(path: str, content: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": "Write", "input": {"file_path": path, "content": content}}]}


def _writes(*files: tuple[str, str]) -> dict[str, Any]:
    return {
        "tool_calls": [
            {"name": "Write", "input": {"file_path": path, "content": content}}
            for path, content in files
        ]
    }


def _done(text: str) -> dict[str, Any]:
    return {"text": text}


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """One goal of a case, the files to put in the folder first, and what must hold after."""

    goal: str
    setup: Mapping[str, str] = field(default_factory=dict)
    expect: Expect = field(default_factory=dict)
    #: Folders that must exist after the run.
    folders: tuple[str, ...] = ()
    #: Paths that must be gone after the run.
    gone: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """A starter trace: learned from ``recorded`` with ``turns``; ``other`` must follow it."""

    name: str
    recorded: Variant
    turns: Sequence[Mapping[str, Any]]
    other: Variant

    @property
    def trace_id(self) -> str:
        return f"starter-{self.name}"


def _text_cases() -> list[Case]:
    return [
        Case(
            name="file-says",
            recorded=Variant(
                goal="Create a file greeting.txt that says hello",
                expect={"greeting.txt": "hello\n"},
            ),
            turns=[_write("greeting.txt", "hello\n"), _done("Created greeting.txt.")],
            other=Variant(
                goal="Create a file hello.txt that says hello", expect={"hello.txt": "hello\n"}
            ),
        ),
        Case(
            name="file-says-quoted",
            recorded=Variant(
                goal='Create a file notes.txt that says "see you soon"',
                expect={"notes.txt": "see you soon\n"},
            ),
            turns=[_write("notes.txt", "see you soon\n"), _done("Created notes.txt.")],
            other=Variant(
                goal='Create a file hello.txt that says "Hello, world!"',
                expect={"hello.txt": "Hello, world!\n"},
            ),
        ),
        Case(
            name="file-containing",
            recorded=Variant(
                goal='Create todo.txt containing "buy milk"', expect={"todo.txt": "buy milk\n"}
            ),
            turns=[_write("todo.txt", "buy milk\n"), _done("Created todo.txt.")],
            other=Variant(
                goal='Create list.txt containing "call mum"', expect={"list.txt": "call mum\n"}
            ),
        ),
        Case(
            name="empty-file",
            recorded=Variant(goal="Create an empty file notes.md", expect={"notes.md": ""}),
            turns=[_write("notes.md", ""), _done("Created the empty file notes.md.")],
            other=Variant(goal="Create an empty file todo.md", expect={"todo.md": ""}),
        ),
        Case(
            name="uppercase",
            recorded=Variant(
                goal="Write an uppercase copy of notes.txt to shout.txt",
                setup={"notes.txt": "Hello there\n"},
                expect={"shout.txt": "HELLO THERE\n"},
            ),
            turns=[
                _bash("tr '[:lower:]' '[:upper:]' < notes.txt > shout.txt"),
                _done("Wrote an uppercase copy of notes.txt to shout.txt."),
            ],
            other=Variant(
                goal="Write an uppercase copy of poem.txt to loud.txt",
                setup={"poem.txt": "roses are red\n"},
                expect={"loud.txt": "ROSES ARE RED\n"},
            ),
        ),
        Case(
            name="sort-lines",
            recorded=Variant(
                goal="Sort the lines of names.txt into sorted.txt",
                setup={"names.txt": _NAMES},
                expect={"sorted.txt": "alice\nalice\nbob\ncarol\n"},
            ),
            turns=[
                _bash("LC_ALL=C sort names.txt > sorted.txt"),
                _done("Sorted the lines of names.txt into sorted.txt."),
            ],
            other=Variant(
                goal="Sort the lines of words.txt into ordered.txt",
                setup={"words.txt": "pear\napple\n"},
                expect={"ordered.txt": "apple\npear\n"},
            ),
        ),
        Case(
            name="unique-lines",
            recorded=Variant(
                goal="Write the unique lines of names.txt to unique.txt",
                setup={"names.txt": _NAMES},
                expect={"unique.txt": "alice\nbob\ncarol\n"},
            ),
            turns=[
                _bash("LC_ALL=C sort -u names.txt > unique.txt"),
                _done("Wrote the unique lines of names.txt, sorted, to unique.txt."),
            ],
            other=Variant(
                goal="Write the unique lines of tags.txt to tags-unique.txt",
                setup={"tags.txt": "b\na\nb\n"},
                expect={"tags-unique.txt": "a\nb\n"},
            ),
        ),
        Case(
            name="csv-to-json",
            recorded=Variant(
                goal="Convert data.csv to data.json",
                setup={"data.csv": _CSV},
                expect={"data.json": _CSV_JSON},
            ),
            turns=[
                _bash(
                    "python3 -c 'import csv, json; "
                    'rows = list(csv.DictReader(open("data.csv", newline=""))); '
                    'out = open("data.json", "w"); json.dump(rows, out, indent=2); '
                    'out.write("\\n")\''
                ),
                _done("Converted data.csv to data.json (a list of objects, one per row)."),
            ],
            other=Variant(
                goal="Convert stock.csv to stock.json",
                setup={"stock.csv": "item,n\nnail,9\n"},
                expect={"stock.json": '[\n  {\n    "item": "nail",\n    "n": "9"\n  }\n]\n'},
            ),
        ),
        Case(
            name="json-to-csv",
            recorded=Variant(
                goal="Convert data.json to data.csv",
                setup={"data.json": _JSON},
                expect={"data.csv": "name,qty\r\napple,3\r\npear,5\r\n"},
            ),
            turns=[
                _bash(
                    "python3 -c 'import csv, json; "
                    'rows = json.load(open("data.json")); '
                    'out = csv.DictWriter(open("data.csv", "w", newline=""), '
                    "fieldnames=list(rows[0])); out.writeheader(); out.writerows(rows)'"
                ),
                _done("Converted data.json (a list of objects) to data.csv."),
            ],
            other=Variant(
                goal="Convert people.json to people.csv",
                setup={"people.json": '[{"who": "ann", "age": 7}]'},
                expect={"people.csv": "who,age\r\nann,7\r\n"},
            ),
        ),
        Case(
            name="pretty-json",
            recorded=Variant(
                goal="Pretty-print data.json into pretty.json",
                setup={"data.json": _JSON},
                expect={"pretty.json": None},
            ),
            turns=[
                _bash("python3 -m json.tool data.json pretty.json"),
                _done("Wrote data.json, indented, to pretty.json."),
            ],
            other=Variant(
                goal="Pretty-print config.json into config-pretty.json",
                setup={"config.json": '{"a": 1}'},
                expect={"config-pretty.json": '{\n    "a": 1\n}\n'},
            ),
        ),
    ]


def _file_cases() -> list[Case]:
    return [
        Case(
            name="folder",
            recorded=Variant(goal="Create a folder named docs", folders=("docs",)),
            turns=[_bash("mkdir -p docs"), _done("Created the folder docs.")],
            other=Variant(goal="Create a folder named reports", folders=("reports",)),
        ),
        Case(
            name="copy-file",
            recorded=Variant(
                goal="Copy notes.txt to notes-copy.txt",
                setup={"notes.txt": "a note\n"},
                expect={"notes-copy.txt": "a note\n", "notes.txt": "a note\n"},
            ),
            turns=[
                _bash("cp notes.txt notes-copy.txt"),
                _done("Copied notes.txt to notes-copy.txt."),
            ],
            other=Variant(
                goal="Copy plan.txt to plan-old.txt",
                setup={"plan.txt": "step 1\n"},
                expect={"plan-old.txt": "step 1\n", "plan.txt": "step 1\n"},
            ),
        ),
        Case(
            name="rename-file",
            recorded=Variant(
                goal="Rename draft.txt to final.txt",
                setup={"draft.txt": "text\n"},
                expect={"final.txt": "text\n"},
                gone=("draft.txt",),
            ),
            turns=[_bash("mv draft.txt final.txt"), _done("Renamed draft.txt to final.txt.")],
            other=Variant(
                goal="Rename old.txt to new.txt",
                setup={"old.txt": "x\n"},
                expect={"new.txt": "x\n"},
                gone=("old.txt",),
            ),
        ),
        Case(
            name="delete-file",
            recorded=Variant(
                goal="Delete the file old.log", setup={"old.log": "noise\n"}, gone=("old.log",)
            ),
            turns=[_bash("rm old.log"), _done("Deleted old.log.")],
            other=Variant(
                goal="Delete the file debug.log", setup={"debug.log": "x\n"}, gone=("debug.log",)
            ),
        ),
        Case(
            name="count-lines",
            recorded=Variant(
                goal="Count the lines of notes.txt into count.txt",
                setup={"notes.txt": _NOTES},
                expect={"count.txt": "4\n"},
            ),
            turns=[
                _bash("wc -l < notes.txt | tr -d ' ' > count.txt"),
                _done("Wrote the number of lines of notes.txt to count.txt."),
            ],
            other=Variant(
                goal="Count the lines of list.txt into lines.txt",
                setup={"list.txt": "a\nb\nc\n"},
                expect={"lines.txt": "3\n"},
            ),
        ),
        Case(
            name="count-words",
            recorded=Variant(
                goal="Count the words of notes.txt into words.txt",
                setup={"notes.txt": _NOTES},
                expect={"words.txt": "11\n"},
            ),
            turns=[
                _bash("wc -w < notes.txt | tr -d ' ' > words.txt"),
                _done("Wrote the number of words of notes.txt to words.txt."),
            ],
            other=Variant(
                goal="Count the words of essay.txt into total.txt",
                setup={"essay.txt": "one two\nthree\n"},
                expect={"total.txt": "3\n"},
            ),
        ),
        Case(
            name="grep-lines",
            recorded=Variant(
                goal='Save the lines of notes.txt that contain "TODO" to todo.txt',
                setup={"notes.txt": _NOTES},
                expect={"todo.txt": "TODO call the bank\nTODO water plants\n"},
            ),
            turns=[
                _bash("grep -F -e TODO notes.txt > todo.txt || test $? -eq 1"),
                _done('Saved the lines of notes.txt that contain "TODO" to todo.txt.'),
            ],
            other=Variant(
                goal='Save the lines of app.txt that contain "ERROR" to errors.txt',
                setup={"app.txt": "ok\nERROR disk\nok\n"},
                expect={"errors.txt": "ERROR disk\n"},
            ),
        ),
        Case(
            name="find-files",
            recorded=Variant(
                goal="List the .py files under this folder in files.txt",
                setup={"a.py": "", "pkg/b.py": "", "c.txt": ""},
                expect={"files.txt": "./a.py\n./pkg/b.py\n"},
            ),
            turns=[
                _bash("find . -type f -name '*.py' | LC_ALL=C sort > files.txt"),
                _done("Listed the .py files under this folder in files.txt."),
            ],
            other=Variant(
                goal="List the .md files under this folder in docs.txt",
                setup={"README.md": "", "doc/x.md": "", "y.txt": ""},
                expect={"docs.txt": "./README.md\n./doc/x.md\n"},
            ),
        ),
    ]


def _project_cases() -> list[Case]:
    return [
        Case(
            name="gitignore-python",
            recorded=Variant(
                goal="Create a .gitignore for a Python project",
                expect={".gitignore": _GITIGNORE_PYTHON},
            ),
            turns=[_write(".gitignore", _GITIGNORE_PYTHON), _done("Created .gitignore.")],
            other=Variant(
                goal="create a .gitignore for a python project",
                expect={".gitignore": _GITIGNORE_PYTHON},
            ),
        ),
        Case(
            name="gitignore-node",
            recorded=Variant(
                goal="Create a .gitignore for a Node project",
                expect={".gitignore": _GITIGNORE_NODE},
            ),
            turns=[_write(".gitignore", _GITIGNORE_NODE), _done("Created .gitignore.")],
            other=Variant(
                goal="Create a .gitignore for a Node project.",
                expect={".gitignore": _GITIGNORE_NODE},
            ),
        ),
        Case(
            name="gitignore-add",
            recorded=Variant(
                goal='Add the line "build/" to .gitignore',
                setup={".gitignore": "*.log\n"},
                expect={".gitignore": "*.log\nbuild/\n"},
            ),
            turns=[
                _bash("printf '%s\\n' build/ >> .gitignore"),
                _done('Added the line "build/" to .gitignore.'),
            ],
            other=Variant(
                goal='Add the line "node_modules/" to .gitignore',
                setup={".gitignore": ""},
                expect={".gitignore": "node_modules/\n"},
            ),
        ),
        Case(
            name="editorconfig",
            recorded=Variant(
                goal="Create an .editorconfig file", expect={".editorconfig": _EDITORCONFIG}
            ),
            turns=[_write(".editorconfig", _EDITORCONFIG), _done("Created .editorconfig.")],
            other=Variant(
                goal="create an .editorconfig file", expect={".editorconfig": _EDITORCONFIG}
            ),
        ),
        Case(
            name="python-script",
            recorded=Variant(
                goal='Create a Python script hello.py that prints "Hello"',
                expect={"hello.py": 'print("Hello")\n'},
            ),
            turns=[
                _write("hello.py", 'print("Hello")\n'),
                _bash("python3 hello.py"),
                _done('Created hello.py; `python3 hello.py` prints "Hello".'),
            ],
            other=Variant(
                goal='Create a Python script greet.py that prints "Good morning"',
                expect={"greet.py": 'print("Good morning")\n'},
            ),
        ),
        Case(
            name="python-package",
            recorded=Variant(
                goal="Create a Python package inventory/",
                expect={"inventory/__init__.py": ""},
            ),
            turns=[
                _write("inventory/__init__.py", ""),
                _done("Created the package inventory/ (an empty inventory/__init__.py)."),
            ],
            other=Variant(
                goal="Create a Python package billing/", expect={"billing/__init__.py": ""}
            ),
        ),
        Case(
            name="python-project",
            recorded=Variant(
                goal="Scaffold a Python project named shop with pyproject.toml",
                expect={
                    "pyproject.toml": None,
                    "src/shop/__init__.py": '"""shop."""\n\n__version__ = "0.1.0"\n',
                    "tests/test_version.py": None,
                    "README.md": "# shop\n",
                },
            ),
            turns=[
                _writes(
                    (
                        "pyproject.toml",
                        '[build-system]\nrequires = ["hatchling"]\n'
                        'build-backend = "hatchling.build"\n\n[project]\nname = "shop"\n'
                        'version = "0.1.0"\nrequires-python = ">=3.11"\n\n'
                        '[tool.hatch.build.targets.wheel]\npackages = ["src/shop"]\n',
                    ),
                    ("src/shop/__init__.py", '"""shop."""\n\n__version__ = "0.1.0"\n'),
                    (
                        "tests/test_version.py",
                        "from shop import __version__\n\n\ndef test_version() -> None:\n"
                        '    assert __version__ == "0.1.0"\n',
                    ),
                    ("README.md", "# shop\n"),
                ),
                _bash("PYTHONPATH=src python3 -c 'import shop; print(shop.__version__)'"),
                _done(
                    "Scaffolded the Python project shop: pyproject.toml, src/shop/__init__.py, "
                    "tests/test_version.py and README.md."
                ),
            ],
            other=Variant(
                goal="Scaffold a Python project named garden with pyproject.toml",
                expect={
                    "src/garden/__init__.py": '"""garden."""\n\n__version__ = "0.1.0"\n',
                    "README.md": "# garden\n",
                    "tests/test_version.py": "from garden import __version__\n\n\n"
                    'def test_version() -> None:\n    assert __version__ == "0.1.0"\n',
                },
            ),
        ),
        Case(
            name="git-init",
            recorded=Variant(
                goal="Initialise a git repository here with README.md as the first commit",
                setup={"README.md": "# project\n"},
                folders=(".git",),
            ),
            turns=[
                _bash(
                    "git init -q && "
                    "(git config user.email > /dev/null || git config user.email llmos@localhost) "
                    "&& (git config user.name > /dev/null || git config user.name llmos) && "
                    "git add README.md && git commit -q -m 'First commit' && "
                    "git log --oneline -1"
                ),
                _done(
                    "Initialised a git repository and committed README.md as the first commit "
                    "(with your git identity, else llmos@localhost for this repository only)."
                ),
            ],
            other=Variant(
                goal="Initialise a git repository here with notes.md as the first commit",
                setup={"notes.md": "notes\n"},
                folders=(".git",),
            ),
        ),
        Case(
            name="git-log",
            recorded=Variant(
                goal="Save the git log of this repository to history.txt",
                expect={"history.txt": None},
            ),
            turns=[
                _bash("git log --format='%h %s' > history.txt"),
                _done(
                    "Saved the git log of this repository (hash and subject of each commit) to "
                    "history.txt."
                ),
            ],
            other=Variant(
                goal="Save the git log of this repository to log.txt", expect={"log.txt": None}
            ),
        ),
    ]


CASES: tuple[Case, ...] = (*_text_cases(), *_file_cases(), *_project_cases())


def prepare(folder: Path, variant: Variant, case: Case) -> None:
    """Put the variant's files in ``folder`` (and a repository with one commit for git-log)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path, content in variant.setup.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    if case.name == "git-log":
        import subprocess

        (folder / "README.md").write_text("x\n", encoding="utf-8")
        for command in (
            ["git", "init", "-q"],
            ["git", "add", "README.md"],
            [
                "git",
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@localhost",
                "commit",
                "-q",
                "-m",
                "start",
            ],
        ):
            subprocess.run(command, cwd=folder, check=True, capture_output=True)


def problems(folder: Path, variant: Variant) -> list[str]:
    """What the variant says must hold in ``folder`` and does not."""
    found = []
    for path, content in variant.expect.items():
        target = folder / path
        if not target.is_file():
            found.append(f"{path} is missing")
        elif content is not None and target.read_bytes().decode("utf-8") != content:
            found.append(f"{path} holds {target.read_bytes().decode('utf-8')!r}, not {content!r}")
    found += [
        f"folder {name} is missing" for name in variant.folders if not (folder / name).is_dir()
    ]
    found += [f"{name} is still there" for name in variant.gone if (folder / name).exists()]
    return found


async def learn(case: Case, root: Path) -> Path:
    """Learn ``case`` with its scripted turns in a throwaway state folder; its trace file."""
    from llmos import LLMOS
    from llmos.backends.scripted import ScriptedBackend
    from llmos.workspace import Workspace

    work = root / "work"
    prepare(work, case.recorded, case)
    async with LLMOS(
        root / "state", backend=ScriptedBackend(case.turns), library__starter=False
    ) as llmos:
        result = await llmos.execute(case.recorded.goal, mode="learner", cwd=work)
    if not result.outcome.ok or result.trace_id is None:
        raise SystemExit(
            f"{case.name}: the recording is not a judged success: "
            f"{result.outcome.status} {result.outcome.message} {result.error or ''}"
        )
    wrong = problems(work, case.recorded)
    if wrong:
        raise SystemExit(f"{case.name}: {'; '.join(wrong)}")
    return Workspace(root / "state").memory / "traces" / f"{result.trace_id}.md"


def _inputs_may_differ(step: Step) -> Step:
    """A command's files are checked to exist, not for their recorded bytes.

    A Bash step writes from the user's own inputs ("Convert data.csv to data.json"
    on their data.csv): its bytes on replay are theirs, so only that the file is
    produced (and the exit code) is a postcondition. A Write step's content is in
    the trace itself, so its digest stays.
    """
    if step.tool != "Bash" or not step.postcondition.files_written:
        return step
    post = replace(
        step.postcondition, files_written=dict.fromkeys(step.postcondition.files_written, "")
    )
    return replace(step, postcondition=post)


def make(private_key: bytes, destination: Path) -> list[str]:
    """Learn, sign and write every case's trace into ``destination`` (emptied first)."""
    from llmos.memory.starter import starter_seal
    from llmos.memory.trace_format import read_trace, render_trace

    written = []
    fresh = destination.with_name(destination.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    for case in CASES:
        with tempfile.TemporaryDirectory(prefix="llmos-starter-") as temp:
            learned = read_trace(asyncio.run(learn(case, Path(temp))))
        shipped = replace(
            learned,
            id=case.trace_id,
            steps=tuple(_inputs_may_differ(step) for step in learned.steps),
            use_count=0,
            replay_successes=0,
            replay_failures=0,
            saved_usd=0.0,
            last_used=None,
            environment={},
            integrity=None,
        )
        signed = starter_seal(shipped, private_key)
        (fresh / f"{signed.id}.md").write_text(render_trace(signed), encoding="utf-8")
        written.append(signed.id)
    shutil.rmtree(destination, ignore_errors=True)
    fresh.rename(destination)
    return written
