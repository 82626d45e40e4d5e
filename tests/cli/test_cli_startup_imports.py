"""A fast start: each command imports only what it needs (checked in ``sys.modules``, not timed).

``llmos --version`` and a followed ``llmos run`` run in a fresh interpreter
through the console-script entry point (``llmos.cli.app:main``); at exit the
process writes the names of the modules it imported, and the test checks that
none of the heavy ones it had no use for is among them. A Bash step shows the
other side: following it does load the shell parser.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from llmos.events import event_adapter, event_from_json

#: Loads ``llmos.cli.app:main`` as the console script does, runs it, then lists the
#: modules that were imported into the file named by the first argument.
PROBE = """\
import json, sys
from llmos.cli.app import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump(sorted(sys.modules), out)
sys.exit(code)
"""

#: Never needed to replay a trace: the backends and their SDKs, the server, MCP,
#: the shell's line editor, the Learner and the Orchestrator, the HTTP client.
NOT_FOR_A_REPLAY = (
    "anthropic",
    "openai",
    "claude_agent_sdk",
    "llama_cpp",
    "fastapi",
    "starlette",
    "uvicorn",
    "mcp",
    "prompt_toolkit",
    "httpx",
    "croniter",
    "markdownify",
    "llmos.backends.anthropic",
    "llmos.backends.openai",
    "llmos.backends.claude_sdk",
    "llmos.backends.local",
    "llmos.server",
    "llmos.mcp",
    "llmos.cli.shell",
    "llmos.cli.traces",
    "llmos.cli.serve",
    "llmos.engine.learning",
    "llmos.modes.learner",
    "llmos.modes.orchestrator.run",
    "llmos.runtime.scheduler",
)
#: The shell parser (bashlex) and the command rules: loaded when a Bash step is checked.
SHELL_POLICY = ("bashlex", "llmos.security.policy", "llmos.security.shell")
#: ``--version`` needs none of the command machinery.
NOT_FOR_THE_VERSION = (*NOT_FOR_A_REPLAY, *SHELL_POLICY, "typer", "rich", "pydantic", "llmos.api")


def _imported(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    listing = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(listing), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done, set(json.loads(listing.read_text(encoding="utf-8")))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The packages of ``names`` with any module imported (``mcp`` is not ``llmos.mcp``)."""
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


def _learn_and_follow(tmp_path: Path, goal: str, calls: list[dict[str, object]]) -> set[str]:
    workspace = tmp_path / "ws"
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"tool_calls": calls}, {"text": "done."}]), encoding="utf-8")
    learn = ("run", goal, "-w", str(workspace), "--provider", "scripted", "--script", str(script))
    _, learned = _imported(tmp_path, *learn)
    assert "llmos.engine.learning" in learned  # the probe sees what a run imports
    done, followed = _imported(tmp_path, "run", goal, "-w", str(workspace))
    assert "mode follower" in done.stderr, done.stderr  # progress goes to stderr
    return followed


def test_the_version_imports_no_command_machinery(tmp_path: Path) -> None:
    done, modules = _imported(tmp_path, "--version")
    assert done.stdout.startswith("llmos ")
    assert _loaded(modules, NOT_FOR_THE_VERSION) == []


def test_a_followed_run_imports_no_backend_server_mcp_shell_or_learner(tmp_path: Path) -> None:
    write = {"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}
    modules = _learn_and_follow(tmp_path, "Create a file hello.txt that says hello", [write])
    assert (tmp_path / "hello.txt").read_text() == "hello\n"
    assert _loaded(modules, NOT_FOR_A_REPLAY) == []
    assert _loaded(modules, SHELL_POLICY) == []  # no Bash step was checked


def test_a_followed_bash_step_loads_the_shell_parser(tmp_path: Path) -> None:
    bash = {"name": "Bash", "input": {"command": "echo hi > hi.txt"}}
    modules = _learn_and_follow(tmp_path, "Write hi into hi.txt with echo", [bash])
    assert _loaded(modules, SHELL_POLICY) == list(SHELL_POLICY)
    assert _loaded(modules, NOT_FOR_A_REPLAY) == []


def test_help_still_lists_every_lazy_group(tmp_path: Path) -> None:
    done, _ = _imported(tmp_path, "--help")
    for name in ("run", "traces", "budget", "serve", "mcp", "schedule", "daemon", "log", "tools"):
        assert f" {name} " in done.stdout, name


def test_each_event_is_written_as_the_union_would_write_it(tmp_path: Path) -> None:
    """Events are dumped by their own type's adapter; the text equals the union's."""
    write = {"name": "Write", "input": {"file_path": "a.txt", "content": "a\n"}}
    _learn_and_follow(tmp_path, "Create a.txt holding a", [write])
    lines = [
        line
        for log in sorted((tmp_path / "ws").rglob("*.jsonl"))
        for line in log.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    kinds = set()
    for line in lines:
        event = event_from_json(line)
        kinds.add(event.kind)
        assert event_adapter().dump_json(event).decode() == line
    assert {"task-started", "mode-chosen", "task-finished"} <= kinds, kinds
