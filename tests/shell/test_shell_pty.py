"""The interactive shell, driven in a pseudo-terminal as a person would use it.

Each test starts the real ``python -m llmos shell`` with the scripted
provider, types into it and reads what it draws; nothing calls the shell's
functions directly.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from shell_driver import ESC_ENTER, HELLO_TURNS, UP, ShellDriver, shell_env, write_script

from llmos.projects import Projects
from llmos.workspace import Workspace

pytestmark = pytest.mark.slow  # each test starts one or two llmos processes

OpenShell = Callable[..., ShellDriver]

SLEEP_TURNS = [
    {
        "text": "Waiting for the job.",
        "tool_calls": [{"name": "Bash", "input": {"command": "sleep 30"}}],
    },
    {"text": "This turn belongs to the goal after the cancelled one."},
]
FORCE_PUSH = "git push --force origin main"
ASK_TURNS = [
    {"text": "Pushing.", "tool_calls": [{"name": "Bash", "input": {"command": FORCE_PUSH}}]},
    {"text": "Push handled."},
]


def test_the_prompt_appears_help_lists_every_command_and_ctrl_d_exits_0(
    open_shell: OpenShell, hello_script: Path, workspace: Path
):
    shell = open_shell(hello_script)
    assert f"workspace {workspace}" in shell.transcript
    assert "mode auto · provider scripted" in shell.transcript
    shell.run("/help", r"/mode auto\|learner\|follower", "/dry-run GOAL", "/exit", "Ctrl-C cancels")
    for command in ("/budget", "/traces", "/agents", "/project", "/provider", "/model", "/history"):
        assert command in shell.transcript
    assert shell.end_of_input() == 0


def test_a_goal_streams_its_tool_calls_and_summary_and_the_same_goal_is_then_followed(
    open_shell: OpenShell, hello_script: Path, workspace: Path
):
    shell = open_shell(hello_script)
    shell.run(
        "Create hello.txt",
        r"mode learner · provider scripted",
        "I will create the file.",
        r"▸ Write hello.txt  ✓",
        r"▸ Bash cat hello.txt && echo checked  ✓ \(exit 0\)",
        "Created hello.txt.",
        r"done in [\d.]+ s · learner · \$0\.0000 · trace (\w+)",
    )
    assert (workspace.parent / "hello.txt").read_text() == "hello\n"
    (workspace.parent / "hello.txt").unlink()
    shell.run(
        "create hello.txt",
        r"mode follower · trace \w+ · confidence 1\.00",
        r"▸ Write hello.txt  ✓",
        r"▸ Bash cat hello.txt && echo checked  ✓ \(exit 0\)",
        r"done in [\d.]+ s · follower",
    )
    assert (workspace.parent / "hello.txt").read_text() == "hello\n"
    assert shell.end_of_input() == 0


def test_mode_switches_how_goals_run_and_a_bad_mode_is_refused_with_a_suggestion(
    open_shell: OpenShell, hello_script: Path
):
    shell = open_shell(hello_script)
    shell.run("/mode folower", r"error: mode 'folower' is not one of .*did you mean follower\?")
    shell.run("/mode follower", r"mode follower \(one of ")
    shell.run("Create hello.txt", r"failed after .*no saved trace matches this goal")
    shell.run("/mode", "mode follower")
    shell.run("/mode learner", "mode learner")
    shell.run("Create hello.txt", "mode learner", r"done in [\d.]+ s · learner")
    assert shell.end_of_input() == 0


def test_dry_run_shows_the_decision_and_steps_and_runs_nothing(
    open_shell: OpenShell, hello_script: Path, workspace: Path
):
    shell = open_shell(hello_script)
    shell.run("/dry-run Create hello.txt", "Create hello.txt", r"learn · confidence")
    shell.run("Create hello.txt", "done in")
    (workspace.parent / "hello.txt").unlink()
    shell.run(
        "/dry-run Create greeting.txt",
        r"follow · trace \w+ · confidence",
        r"path1 = greeting.txt",
        r"▸ Write greeting.txt",
        r"▸ Bash cat greeting.txt",
    )
    shell.run("/dry-run", r"error: usage: /dry-run GOAL")
    assert not (workspace.parent / "hello.txt").exists()
    assert not (workspace.parent / "greeting.txt").exists()
    assert shell.end_of_input() == 0


def test_traces_lists_the_library_and_finds_the_traces_near_a_query(
    open_shell: OpenShell, hello_script: Path
):
    shell = open_shell(hello_script)
    shell.run("/traces", "no traces yet")
    shell.run("Create hello.txt", r"trace (\w+)")
    trace_id = shell.transcript.rsplit("trace ", 1)[1].split()[0]
    shell.run("/traces", rf"{trace_id}\s+success\s+0\s+\$0\.00\s+Create hello.txt")
    shell.run("/traces hello file", rf"[\d.]+\s+{trace_id}\s+success\s+Create hello.txt")
    shell.run("/traces quantum chromodynamics", "no trace is near 'quantum chromodynamics'")
    assert shell.end_of_input() == 0


def test_budget_shows_what_was_spent_and_what_a_replay_saved(
    open_shell: OpenShell, hello_script: Path
):
    shell = open_shell(hello_script)
    shell.run(
        "/budget", r"budget unlimited · spent \$0\.00 \(0 calls\) · saved \$0\.00 \(0 replays\)"
    )
    shell.run("Create hello.txt", "done in")
    shell.run("create hello.txt", "mode follower")
    shell.run("/budget", r"spent \$[\d.]+ \(3 calls\) · saved \$[\d.]+ \(1 replays\)")
    assert shell.end_of_input() == 0


def test_an_unknown_command_is_one_error_line_with_the_nearest_command(
    open_shell: OpenShell, hello_script: Path
):
    shell = open_shell(hello_script)
    shell.run("/hsitory", r"error: unknown command /hsitory; did you mean /history\? \(/help")
    shell.run("/zzz", r"error: unknown command /zzz \(/help lists them\)")
    shell.run("/budget", "budget unlimited")  # the shell goes on
    assert shell.end_of_input() == 0


def test_ctrl_c_cancels_the_running_task_and_the_prompt_returns(
    open_shell: OpenShell, tmp_path: Path
):
    script = write_script(tmp_path / "sleep.json", SLEEP_TURNS)
    shell = open_shell(script)
    shell.enter("Wait for the long job")
    shell.expect("running Bash sleep 30")
    shell.interrupt()
    shell.expect("cancelling")
    shell.expect(r"failed after [\d.]+ s · \$[\d.]+: cancelled")
    shell.prompt()
    # the same session, the same backend: the script goes on with its next turn
    shell.run(
        "Say something",
        "This turn belongs to the goal after the cancelled one.",
        "unverified in",  # nothing in "Say something" can be checked
    )
    assert shell.end_of_input() == 0


def test_ctrl_c_at_the_prompt_drops_the_line_and_keeps_the_shell(
    open_shell: OpenShell, hello_script: Path, workspace: Path
):
    shell = open_shell(hello_script)
    shell.send("Create hello.txt")
    shell.expect("Create hello.txt")
    shell.interrupt()
    shell.prompt()
    shell.run("/traces", "no traces yet")  # the dropped goal never ran
    assert not (workspace.parent / "hello.txt").exists()
    assert shell.end_of_input() == 0


def test_a_security_ask_prompts_the_person_inline(open_shell: OpenShell, tmp_path: Path):
    script = write_script(tmp_path / "ask.json", ASK_TURNS * 2)
    shell = open_shell(script)
    shell.enter("Push the branch")
    shell.expect("Bash needs approval: security policy: git push --force rewrites")
    shell.expect(r"allow this Bash call\? \[y/N\]")
    shell.enter("n")
    shell.expect("ask-denied")
    shell.expect(rf"▸ Bash {FORCE_PUSH}  ✗ Denied by the security")
    shell.expect(r"failed after [\d.]+ s")  # it ends on the refused call: honestly failed
    shell.prompt()
    shell.enter("Push the branch again")
    shell.expect(r"allow this Bash call\? \[y/N\]")
    shell.enter("y")
    shell.expect("ask-granted")
    shell.expect(rf"▸ Bash {FORCE_PUSH}  ✗ \(exit \d+\)")  # ran: there is no repository here
    shell.expect(r"failed after [\d.]+ s")
    shell.prompt()
    assert shell.end_of_input() == 0


def test_history_persists_across_sessions_and_up_recalls_it(
    open_shell: OpenShell, hello_script: Path, workspace: Path
):
    first = open_shell(hello_script)
    first.run("/mode learner", "mode learner")
    first.run("/dry-run Create hello.txt", "learn")
    assert first.end_of_input() == 0
    assert (workspace / ".shell_history").is_file()

    second = open_shell(hello_script)
    second.send(UP)
    second.expect(r"/dry-run Create hello\.txt")
    second.send(UP)  # the line is redrawn in place, so only the effect can be read
    second.run("", r"mode learner \(one of ")  # Enter runs the recalled entry
    second.run(
        "/history", r"1  /mode learner", r"2  /dry-run Create hello\.txt", r"3  /mode learner"
    )
    assert second.end_of_input() == 0


def test_a_trailing_backslash_or_esc_enter_makes_one_multi_line_entry(
    open_shell: OpenShell, hello_script: Path
):
    shell = open_shell(hello_script)
    shell.run("Create hello.txt", "done in")
    shell.enter("/dry-run create \\")
    shell.expect(r"\.\.\.")  # the continuation prompt
    shell.run("hello.txt", r"follow · trace \w+ · confidence 1\.00")
    shell.send("/dry-run CREATE" + ESC_ENTER)
    shell.expect(r"\.\.\.")
    shell.run("hello.txt", r"follow · trace \w+ · confidence 1\.00")
    assert shell.end_of_input() == 0


def test_tab_completes_commands_and_their_arguments(open_shell: OpenShell, hello_script: Path):
    shell = open_shell(hello_script)
    shell.send("/mo\t")  # two commands start so: both are offered
    shell.expect("/mode")
    shell.expect("/model")
    shell.interrupt()
    shell.prompt()
    shell.send("/mode foll\t")
    shell.expect("follower")
    shell.run("", r"mode follower \(one of ")
    shell.send("/dr\t")
    shell.expect("/dry-run")
    shell.run("Create hello.txt", r"learn · confidence")
    assert shell.end_of_input() == 0


def test_project_and_agents_use_the_workspace_folders(
    open_shell: OpenShell, hello_script: Path, workspace: Path
):
    space = Workspace(workspace).ensure()
    Projects(space).create("website", description="the company site")
    (space.agents / "translator.md").write_text(
        "---\nname: translator\ndescription: Translates documents into French.\n"
        "tools: [Read, Write]\n---\nYou translate.\n",
        encoding="utf-8",
    )
    shell = open_shell(hello_script)
    shell.run("/agents", r"coder\s+builtin", r"translator\s+workspace\s+Translates documents")
    shell.send("/agents transl\t")  # agent names complete
    shell.expect("translator")
    shell.run("", r"translator \(workspace\)", "tools Read, Write")
    shell.run("/project", "no project", "projects: website")
    shell.run("/project webiste", r"error: no project named 'webiste' \(projects: website\)")
    shell.send("/project web\t")  # project names complete
    shell.expect("website")
    shell.run("", "project website: goals work in")
    current = Projects(space).current()
    assert current is not None and current.name == "website"  # as `llmos projects use`
    shell.run("Create hello.txt", "done in")
    assert (space.root.parent / "hello.txt").is_file()
    assert list((space.projects / "website" / "memory" / "traces").glob("*.md"))  # its scope
    shell.run("/project none", "no project: goals work in")
    assert Projects(space).current() is None
    assert shell.end_of_input() == 0


def test_provider_and_model_rebuild_the_session_and_bad_names_are_refused(
    open_shell: OpenShell, hello_script: Path
):
    shell = open_shell(hello_script)
    shell.run("/provider", r"scripted \(in use\)")
    shell.run(
        "/provider scriptd", r"error: provider 'scriptd' is not one of .*did you mean scripted\?"
    )
    shell.run("/model tiny-1", "provider scripted · model tiny-1")
    shell.run("Create hello.txt", "mode learner · provider scripted · model tiny-1", "done in")
    shell.run("/provider scripted", "provider scripted · model")
    # a fresh backend: the script starts again from its first turn
    shell.run("/mode learner", "mode learner")
    shell.run("Create hello.txt", "I will create the file.", "done in")
    assert shell.end_of_input() == 0


def test_piped_input_runs_goals_and_refuses_what_needs_approval(tmp_path: Path):
    script = write_script(tmp_path / "ask.json", [*HELLO_TURNS, *ASK_TURNS])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmos",
            "shell",
            "--workspace",
            str(tmp_path / "ws"),
            "--provider",
            "scripted",
            "--script",
            str(script),
        ],
        input="Create hello.txt\n/dry-run create \\\nhello.txt\nPush the branch\n"
        "/exit\nnever read\n",
        capture_output=True,
        text=True,
        env=shell_env(),
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Created hello.txt." in done.stdout
    assert "follow · trace" in done.stdout
    assert "no terminal to ask, so it is denied" in done.stdout
    assert "never read" not in done.stdout
