"""Truthful outcomes, end to end: runs that did not do the job exit 1, are saved as failed
and are never followed afterwards — through ``llmos`` in a subprocess and through the API.

Each case is a scripted model that gets something wrong in its own way:

(a) no tool call for a goal that names a file; (b) its only Write fails; (c) it hits the
turn limit; (d) its answer is cut at max_tokens; (e) a replay step is denied by a hook and
the heal does nothing.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llmos.api import LLMOS
from llmos.backends.scripted import ScriptedBackend
from llmos.config import load_settings
from llmos.memory import TraceStore
from llmos.testing.cli import run_llmos, settings_env, write_script

HELLO = "Create a file hello.txt that says hello"
WRITE_HELLO = {"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}


@dataclass(frozen=True)
class Case:
    name: str
    turns: list[dict[str, Any]]
    kind: str
    message: str
    settings: dict[str, Any] = field(default_factory=dict)
    folder: str | None = None  # a folder made in the output first (to make a Write fail)


CASES = [
    Case(
        "no-tool-call",
        [{"text": "Done! hello.txt says hello."}],
        "acceptance-failed",
        "file hello.txt does not exist",
    ),
    Case(
        "only-write-fails",
        [{"tool_calls": [WRITE_HELLO]}, {"text": "Created hello.txt."}],
        "step-failed",
        "every step of the run failed (1)",
        folder="hello.txt",
    ),
    Case(
        "max-turns",
        [{"tool_calls": [{"name": "LS", "input": {"path": f"d{n}"}}]} for n in range(3)],
        "max-turns",
        "stopped after 2 turns without a final answer",
        settings={"learner.max_turns": 2},
    ),
    Case(
        "max-tokens",
        [
            {"tool_calls": [WRITE_HELLO]},
            {"text": "I wrote hello.txt and", "stop_reason": "max_tokens"},
        ],
        "max-tokens",
        "the model's answer was cut at max_tokens",
    ),
]

GUARD = """
from llmos.hooks.pipeline import Deny
from llmos.plugins import hook


@hook("PreToolUse", matcher="Write")
def no_writes(data):
    return Deny("writes are switched off here")
"""
LEARN_NOTES = [
    {
        "tool_calls": [
            {"name": "Write", "input": {"file_path": "notes.txt", "content": "remember\n"}}
        ]
    },
    {"text": "notes.txt holds it."},
]
NOTES = "Create notes.txt holding 'remember'"
HEAL_DOES_NOTHING = [{"text": "All done."}]


def statuses(workspace: Path) -> dict[str, tuple[str, str | None]]:
    store = TraceStore.for_memory(workspace / "memory")
    return {t.id: (t.status, t.failure.value if t.failure else None) for t in store.iter()}


# ------------------------------------------------------------------ through the CLI


def cli_env(workspace: Path, settings: dict[str, Any]) -> dict[str, str]:
    """The workspace and the settings of a run, sandbox off (the scripts write plain files)."""
    env = {"LLMOS_WORKSPACE": str(workspace)}
    return env | settings_env({"tools.sandbox": "false", **settings})


def run_cli(
    tmp_path: Path, goal: str, turns: list[dict[str, Any]], env: dict[str, str], name: str
) -> subprocess.CompletedProcess[str]:
    script = write_script(tmp_path / f"{name}.json", turns)
    return run_llmos(
        "run",
        "--json",
        "--provider",
        "scripted",
        "--script",
        str(script),
        goal,
        cwd=tmp_path,
        env=env,
    )


def match_cli(tmp_path: Path, goal: str, env: dict[str, str]) -> dict[str, Any]:
    done = run_llmos("traces", "match", "--json", goal, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_run_that_did_not_do_the_job_exits_1_is_saved_failed_and_is_not_followed(
    tmp_path: Path, case: Case
):
    workspace = tmp_path / "ws"
    env = cli_env(workspace, case.settings)
    if case.folder:
        (workspace.parent / case.folder).mkdir(parents=True)
    done = run_cli(tmp_path, HELLO, case.turns, env, case.name)
    assert done.returncode == 1, done.stderr
    [reason] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert reason.startswith(f"error: the task failed ({case.kind}): "), reason
    assert case.message in reason and "; " in reason  # and says what to try
    last = json.loads(done.stdout.splitlines()[-1])
    assert (last["kind"], last["failure"]) == ("task-failed", case.kind)
    assert list(statuses(workspace).values()) == [("failed", case.kind)]
    assert match_cli(tmp_path, HELLO, env)["decision"] != "follow"
    # The same goal again is learned afresh, never replayed from the failed run.
    if case.folder:
        (workspace.parent / case.folder).rmdir()
    again = run_cli(tmp_path, HELLO, [{"tool_calls": [WRITE_HELLO]}, {"text": "ok"}], env, "ok")
    modes = [json.loads(line) for line in again.stdout.splitlines()]
    assert [e["mode"] for e in modes if e["kind"] == "mode-chosen"] == ["learner"]
    assert again.returncode == 0, again.stderr


@pytest.mark.slow
def test_a_denied_replay_step_exits_1_is_not_healed_and_is_not_followed_again(
    tmp_path: Path,
):
    workspace = tmp_path / "ws"
    env = cli_env(workspace, {})
    learned = run_cli(tmp_path, NOTES, LEARN_NOTES, env, "learn")
    assert learned.returncode == 0, learned.stderr
    assert match_cli(tmp_path, NOTES, env)["decision"] == "follow"
    (workspace / "hooks").mkdir(parents=True, exist_ok=True)
    (workspace / "hooks" / "guard.py").write_text(textwrap.dedent(GUARD))
    healed = run_cli(tmp_path, NOTES, HEAL_DOES_NOTHING, env, "heal")
    assert healed.returncode == 1
    assert "error: the task failed (policy): replay of trace" in healed.stderr
    assert "a step the policy denies fails the replay (it is not healed)" in healed.stderr
    # No heal ran (its script is never read) and the trace is no longer vouched for.
    assert sorted(statuses(workspace).values()) == [("unverified", None)]
    assert match_cli(tmp_path, NOTES, env)["decision"] != "follow"


# ------------------------------------------------------------------ through the API


def api(workspace: Path, turns: list[dict[str, Any]], **settings: Any) -> LLMOS:
    merged = {"tools.sandbox": False, **settings}
    return LLMOS(
        settings=load_settings(workspace=workspace, overrides=merged),
        backend=ScriptedBackend(turns),
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_the_api_reports_each_failure_kind_and_never_follows_it(workspace: Path, case: Case):
    if case.folder:
        (workspace.parent / case.folder).mkdir(parents=True)
    async with api(workspace, case.turns, **case.settings) as llmos:
        result = await llmos.execute(HELLO)
        assert (result.success, result.failed) == (False, True)
        assert (result.outcome.status, result.outcome.kind) == ("failed", case.kind)
        assert case.message in (result.error or "")
        assert (await llmos.match(HELLO)).decision != "follow"
    assert statuses(workspace)[result.trace_id or ""] == ("failed", case.kind)


async def test_the_api_fails_and_demotes_a_trace_whose_replay_step_is_denied(workspace: Path):
    async with api(workspace, LEARN_NOTES) as llmos:
        learned = await llmos.execute(NOTES)
        assert learned.success, learned.error
    (workspace / "hooks").mkdir(parents=True, exist_ok=True)
    (workspace / "hooks" / "guard.py").write_text(textwrap.dedent(GUARD))
    async with api(workspace, HEAL_DOES_NOTHING) as llmos:
        healed = await llmos.execute(NOTES)
        assert (healed.mode, healed.outcome.kind) == ("follower", "policy")
        found = await llmos.match(NOTES)
        assert found.decision == "guide" and found.trace is not None
        assert found.trace.id == learned.trace_id and found.trace.status == "unverified"
        assert "the policy denied its step 1 (Write)" in found.trace.verdict


async def test_a_goal_learned_successfully_still_follows_for_free(workspace: Path):
    async with api(workspace, LEARN_NOTES) as llmos:
        learned = await llmos.execute(NOTES)
        assert (learned.outcome.status, learned.mode) == ("success", "learner")
        again = await llmos.execute(NOTES)
    assert (again.mode, again.success, again.cost_usd) == ("follower", True, 0.0)
    assert again.trace_id == learned.trace_id


async def test_a_rejected_trace_is_never_followed_and_a_promoted_one_is(workspace: Path):
    async with api(workspace, [*LEARN_NOTES, {"text": "Thought about it."}]) as llmos:
        learned = await llmos.execute(NOTES)
        rejected = await llmos.reject(learned.trace_id or "", "it wrote the wrong word")
        assert (rejected.status, rejected.failure) == ("failed", "rejected")
        found = await llmos.match(NOTES)
        assert found.decision == "learn" and "a person rejected its result" in found.reason
        talk = await llmos.execute("Tell me about the sea")  # undecidable: unverified
        assert (talk.outcome.status, talk.failed) == ("unverified", False)
        await llmos.promote(talk.trace_id or "", "read it, it is right")
        assert (await llmos.match("Tell me about the sea")).decision == "follow"


@pytest.mark.slow
def test_traces_reject_marks_a_trace_failed_and_list_shows_who_learned_it(tmp_path: Path):
    workspace = tmp_path / "ws"
    env = cli_env(workspace, {})
    assert run_cli(tmp_path, NOTES, LEARN_NOTES, env, "learn").returncode == 0
    [trace_id] = statuses(workspace)
    no_reason = run_llmos("traces", "reject", trace_id, cwd=tmp_path, env=env)
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    done = run_llmos(
        "traces", "reject", trace_id[:6], "--reason", "wrong word", cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    assert f"rejected {trace_id}" in done.stderr
    [row] = [
        json.loads(line)
        for line in run_llmos("traces", "list", "--json", cwd=tmp_path, env=env).stdout.splitlines()
    ]
    assert (row["status"], row["failure_kind"], row["backend"], row["model"]) == (
        "failed",
        "rejected",
        "scripted",
        "scripted",
    )
    assert match_cli(tmp_path, NOTES, env)["decision"] == "learn"


async def test_rejecting_a_trace_demotes_its_versions_to_guidance(workspace: Path):
    from dataclasses import replace

    async with api(workspace, LEARN_NOTES) as llmos:
        learned = await llmos.execute(NOTES)
        store = llmos.traces().home
        original = store.load(learned.trace_id or "")
        version = store.save(replace(original, id="version1", parent=original.id))
        await llmos.reject(original.id, "the note is wrong")
        assert store.load(version.id).status == "unverified"
        assert "which a person rejected: the note is wrong" in store.load(version.id).verdict
        assert (await llmos.match(NOTES)).decision == "guide"
