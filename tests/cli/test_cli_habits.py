"""`llmos run` as people used to other agent CLIs call it: goals from stdin, piped context,
stdout for the answer only, output formats, implicit `run`, approvals on a terminal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pexpect
import pytest

from llmos.api import LLMOS
from llmos.backends.scripted import ScriptedBackend
from llmos.cli.commandline import route
from llmos.config import load_settings
from llmos.errors import ConfigError
from llmos.events import Event, Notice, event_from_json
from llmos.testing.cli import cli_env, llmos_argv, run_llmos, write_script

CREATE_A = [
    {
        "text": "I will write it.",
        "tool_calls": [{"name": "Write", "input": {"file_path": "a.txt", "content": "a\n"}}],
    },
    {"tool_calls": [{"name": "Bash", "input": {"command": "cat a.txt"}}]},
    {"text": "Created a.txt."},
]
#: A Bash call the security policy wants a person to approve (a tree deletion it cannot
#: read the path of), harmless here: it removes the folder the first step made.
ASKING = [
    {"tool_calls": [{"name": "Bash", "input": {"command": "mkdir -p build"}}]},
    {
        "tool_calls": [
            {
                "name": "Bash",
                "input": {
                    "command": 'python3 -c "import shutil,sys; shutil.rmtree(sys.argv[1])" build'
                },
            }
        ]
    },
    {"text": "Removed build."},
]
WAIT_S = 90.0


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return tmp_path / "ws"


def _scripted(tmp_path: Path, turns: list[dict[str, object]]) -> tuple[str, ...]:
    return ("--provider", "scripted", "--script", str(write_script(tmp_path / "s.json", turns)))


def _result(stdout: str) -> dict[str, object]:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout  # one object, nothing else
    found = json.loads(lines[0])
    assert isinstance(found, dict)
    return found


def test_goal_read_from_stdin_with_a_dash(tmp_path: Path, ws: Path) -> None:
    done = run_llmos(
        "run", "-", "--output-format", "json", *_scripted(tmp_path, CREATE_A),
        cwd=tmp_path, workspace=ws, stdin="Create a.txt\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = _result(done.stdout)
    assert result["goal"] == "Create a.txt" and result["success"] is True
    assert result["result"] == "Created a.txt." and result["mode"] == "learner"
    assert set(result) >= {"outcome", "trace_id", "task_id", "cost_usd", "duration_s"}


def test_quiet_stdout_is_the_answer_and_warnings_go_to_stderr(tmp_path: Path, ws: Path) -> None:
    done = run_llmos(
        "run", "-q", *_scripted(tmp_path, CREATE_A), "Create a.txt",
        cwd=tmp_path, workspace=ws, env={"LLMOS_NO_BWRAP": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Created a.txt.\n"
    assert "without an OS sandbox" in done.stderr  # the bubblewrap warning: stderr only


def test_a_goal_without_the_run_command_runs(tmp_path: Path, ws: Path) -> None:
    done = run_llmos(*_scripted(tmp_path, CREATE_A), "Create a.txt", cwd=tmp_path, workspace=ws)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Created a.txt.\n" and "done in" in done.stderr


def test_routing_of_the_first_argument() -> None:
    commands = ["run", "traces", "config"]
    assert route(["Create a.txt"], commands) == ["run", "Create a.txt"]
    assert route(["-p", "Create a.txt"], commands) == ["run", "-p", "Create a.txt"]
    assert route(["--debug", "traces", "list"], commands) == ["--debug", "traces", "list"]
    assert route(["--version"], commands) == ["--version"]
    assert route(["help", "traces"], commands) == ["traces", "--help"]
    with pytest.raises(ConfigError, match="did you mean `llmos traces`"):
        route(["trace"], commands)


def test_a_mistyped_command_is_an_error_not_a_task(tmp_path: Path, ws: Path) -> None:
    done = run_llmos("trace", "list", cwd=tmp_path, workspace=ws)
    assert done.returncode == 2
    assert done.stderr.count("error:") == 1 and "llmos traces" in done.stderr


def test_an_error_is_printed_once_on_stderr(tmp_path: Path, ws: Path) -> None:
    done = run_llmos(
        "run", "--mode", "learner", "--provider", "scripted", "--script", "missing.json", "x",
        cwd=tmp_path, workspace=ws,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("does not exist") == 1, done.stderr


def test_stream_json_and_its_json_alias(tmp_path: Path, ws: Path) -> None:
    for flag in (("--json",), ("--output-format", "stream-json")):
        done = run_llmos(
            "run", *flag, *_scripted(tmp_path, CREATE_A), "--mode", "learner", "Create a.txt",
            cwd=tmp_path, workspace=ws,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        kinds = [event_from_json(line).kind for line in done.stdout.splitlines()]
        assert kinds[0] == "task-started" and kinds[-1] == "task-finished"
    both = run_llmos("run", "--json", "--output-format", "json", "x", cwd=tmp_path, workspace=ws)
    assert both.returncode == 2 and "--json means --output-format stream-json" in both.stderr


def test_piped_text_beside_a_goal_is_context_and_not_followed(tmp_path: Path, ws: Path) -> None:
    script = _scripted(tmp_path, CREATE_A)
    first = run_llmos("run", *script, "Create a.txt", cwd=tmp_path, workspace=ws)
    assert first.returncode == 0, first.stderr
    followed = run_llmos("run", "--json", *script, "Create a.txt", cwd=tmp_path, workspace=ws)
    # without input the trace is followed
    assert [
        e.mode
        for e in map(event_from_json, followed.stdout.splitlines())
        if e.kind == "mode-chosen"
    ] == ["follower"]
    piped = run_llmos(
        "run", "--json", *script, "Create a.txt", cwd=tmp_path, workspace=ws, stdin="x,y\n1,2\n"
    )
    assert piped.returncode == 0, piped.stderr
    events = [event_from_json(line) for line in piped.stdout.splitlines()]
    chosen = next(e for e in events if e.kind == "mode-chosen")
    assert chosen.mode == "learner" and "input was given beside the goal" in chosen.reason
    assert any(isinstance(e, Notice) and "not followed" in e.message for e in events)


async def test_the_learner_sees_piped_context_in_its_prompt(tmp_path: Path) -> None:
    backend = ScriptedBackend(CREATE_A)
    settings = load_settings(workspace=tmp_path / "ws", env={})
    async with LLMOS(settings=settings, backend=backend) as llmos:
        result = await llmos.execute("Create a.txt", context="name,qty\npear,3\n")
    assert result.success and result.mode == "learner"
    first = str(backend.requests[0].messages[0])
    assert "pear,3" in first and "piped" in first


def test_config_shows_each_value_and_its_source(tmp_path: Path, ws: Path) -> None:
    ws.mkdir()
    (ws / "llmos.toml").write_text("[learner]\nmax_turns = 7\n")
    env = {"LLMOS_TOOLS__BASH_TIMEOUT": "5"}
    done = run_llmos("config", "--json", cwd=tmp_path, workspace=ws, env=env)
    assert done.returncode == 0, done.stderr
    rows = {row["key"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert rows["learner.max_turns"] == {
        "key": "learner.max_turns",
        "value": 7,
        "source": str(ws / "llmos.toml"),
    }
    assert rows["tools.bash_timeout"]["source"] == "LLMOS_TOOLS__BASH_TIMEOUT"
    assert rows["follower.follow_threshold"]["source"] == "default"
    assert rows["workspace"]["source"] == "LLMOS_WORKSPACE"  # the state folder: not a layer
    assert rows["security.permission_mode"]["value"] == "default"
    text = run_llmos("config", "learner", cwd=tmp_path, workspace=ws, env=env)
    assert re.search(r"learner\.max_turns\s+7\s+·\s+\S*llmos\.toml", text.stdout), text.stdout
    assert "tools." not in text.stdout


def _denials(stdout: str) -> list[str]:
    events: list[Event] = [event_from_json(line) for line in stdout.splitlines()]
    return [e.decision for e in events if e.kind == "hook-decided" and e.decision.startswith("ask")]


def test_off_a_terminal_an_ask_is_denied_with_the_reason(tmp_path: Path, ws: Path) -> None:
    script = _scripted(tmp_path, ASKING)
    done = run_llmos("run", "--json", *script, "Remove build", cwd=tmp_path, workspace=ws)
    assert _denials(done.stdout) == ["ask-denied"]
    shown = run_llmos(
        "run", "--mode", "learner", *script, "Remove build", cwd=tmp_path, workspace=ws
    )
    assert shown.returncode == 1
    assert "ask-denied security policy: the one-liner deletes a folder tree" in shown.stderr
    assert "(no terminal to ask; --permission-mode accept approves such calls)" in shown.stderr
    accepted = run_llmos(
        "run", "--json", "--mode", "learner", "--permission-mode", "accept",
        *_scripted(tmp_path, ASKING), "Remove build", cwd=tmp_path, workspace=ws,
    )  # fmt: skip
    assert _denials(accepted.stdout) == ["ask-granted"]


def _on_terminal(
    tmp_path: Path, ws: Path, *extra: str, env: dict[str, str] | None = None
) -> pexpect.spawn:
    argv = [
        str(a)
        for a in llmos_argv(
            "run", "--mode", "learner", *_scripted(tmp_path, ASKING), *extra, "Remove build"
        )
    ]
    environment = cli_env(ws, env) | {"TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1"}
    return pexpect.spawn(
        argv[0], argv[1:], cwd=str(tmp_path), env=environment, encoding="utf-8",
        dimensions=(50, 200), timeout=WAIT_S,
    )  # fmt: skip


@pytest.mark.parametrize(("answer", "mark"), [("y", "exit 0"), ("n", "Denied by")])
def test_on_a_terminal_an_ask_asks(tmp_path: Path, ws: Path, answer: str, mark: str) -> None:
    child = _on_terminal(tmp_path, ws)
    child.expect("needs approval")
    child.expect(r"allow this Bash call\? \[y/N\]")
    child.sendline(answer)
    child.expect(re.escape(mark) if answer == "n" else r"shutil\.rmtree.*exit 0")
    child.expect(pexpect.EOF)
    child.close()


@pytest.mark.parametrize(
    ("extra", "env", "said"),
    [
        ((), {"LLMOS_SECURITY__PERMISSION_MODE": "deny"}, "permission mode deny: nothing is asked"),
        (("-p",), {}, "print mode asks nothing; --permission-mode accept approves"),
    ],
    ids=["deny-setting", "print-mode"],
)
def test_deny_mode_and_print_mode_never_ask_even_on_a_terminal(
    tmp_path: Path, ws: Path, extra: tuple[str, ...], env: dict[str, str], said: str
) -> None:
    child = _on_terminal(tmp_path, ws, *extra, env=env)
    shown = child.read()
    child.close()
    assert said in shown
    assert "allow this Bash call" not in shown and child.exitstatus == 1


def test_a_trace_learned_with_piped_input_is_never_followed(tmp_path: Path, ws: Path) -> None:
    script = _scripted(tmp_path, CREATE_A)
    piped = run_llmos(
        "run", "--output-format", "json", *script, "Create a.txt",
        cwd=tmp_path, workspace=ws, stdin="some input\n",
    )  # fmt: skip
    result = _result(piped.stdout)
    assert result["success"] is True and result["mode"] == "learner"  # the task's own verdict
    again = run_llmos(
        "run", "--output-format", "json", *script, "Create a.txt", cwd=tmp_path, workspace=ws
    )
    assert _result(again.stdout)["mode"] in ("guided", "learner"), again.stderr
    listed = run_llmos("traces", "list", "--json", cwd=tmp_path, workspace=ws)
    status = {t["id"]: t["status"] for t in map(json.loads, listed.stdout.splitlines())}
    assert status[str(result["trace_id"])] == "unverified"  # guidance, never followed
