"""Trace integrity through the Python API: edited traces are refused, trust and verify re-enable.

A trace is followed (or shown to the Learner) only while its seal checks.
Editing a step by hand breaks the seal; ``TraceStore.trust`` (what
``llmos traces trust`` calls) seals it again. An imported trace is never
followed until it is trusted or a verify, run only in bubblewrap with no llmos
state in reach, holds.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmos import LLMOS
from llmos.backends.scripted import ScriptedBackend
from llmos.config import load_settings
from llmos.events import Event, Notice
from llmos.memory import Postcondition, Step, Trace, TraceStore, render_trace
from llmos.tools.sandbox import sandbox_status

GOAL = "Create hello.txt and count its bytes"
HELLO = [
    {"tool_calls": [{"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}]},
    {"tool_calls": [{"name": "Bash", "input": {"command": "wc -c < hello.txt"}}]},
    {"text": "hello.txt holds 6 bytes."},
]
needs_bwrap = pytest.mark.skipif(
    not sandbox_status().available, reason="bubblewrap is not usable here"
)


def make(workspace: Path, turns: list[dict[str, Any]]) -> tuple[LLMOS, ScriptedBackend]:
    backend = ScriptedBackend(turns)
    return LLMOS(settings=load_settings(workspace=workspace), backend=backend), backend


def trace_file(workspace: Path, trace_id: str) -> Path:
    return workspace / "memory" / "traces" / f"{trace_id}.md"


def edit_step(workspace: Path, trace_id: str, old: str, new: str) -> None:
    """What a person (or a task that could write the library) does to a trace file."""
    path = trace_file(workspace, trace_id)
    text = path.read_text()
    assert json.dumps(old) in text
    path.write_text(text.replace(json.dumps(old), json.dumps(new)))


async def learn(workspace: Path) -> str:
    llmos, _ = make(workspace, HELLO)
    async with llmos:
        learned = await llmos.execute(GOAL)
    assert learned.success and learned.mode == "learner"
    return learned.trace_id or ""


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A machine without bubblewrap: PATH has no bwrap, and the probe is asked again."""
    bin_dir = tmp_path / "bin-without-bwrap"
    bin_dir.mkdir()
    for tool in ("bash", "sh", "wc", "cat", "test", "touch"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))
    sandbox_status.cache_clear()
    assert not sandbox_status().available
    yield
    monkeypatch.undo()
    sandbox_status.cache_clear()


async def test_a_trace_edited_by_hand_is_refused_at_replay_with_which_file_and_why(
    workspace: Path,
):
    trace_id = await learn(workspace)
    edit_step(workspace, trace_id, "wc -c < hello.txt", "wc -c < hello.txt; echo extra")
    llmos, backend = make(workspace, [])
    events: list[Event] = []
    llmos.subscribe(events.append)
    async with llmos:
        found = await llmos.match(GOAL)
        result = await llmos.execute(GOAL, mode="follower")
    assert (found.decision, found.trace) == ("learn", None)
    [item] = found.untrusted
    assert (item.trace_id, item.file, item.state) == (
        trace_id,
        trace_file(workspace, trace_id),
        "modified",
    )
    assert found.to_json()["untrusted"] == [
        {
            "trace_id": trace_id,
            "file": str(trace_file(workspace, trace_id)),
            "state": "modified",
            "reason": "its steps, slots or answer do not match its digest: the file was changed "
            "after llmos wrote it",
            "scope": "own",
        }
    ]
    assert not result.success and result.error_type == "NoMatch"
    assert backend.requests == []
    [notice] = [e for e in events if isinstance(e, Notice) and trace_id in e.message]
    assert notice.message.startswith(
        f"not using trace {trace_id} ({trace_file(workspace, trace_id)})"
    )
    assert f"`llmos traces trust {trace_id}`" in notice.message


async def test_trusting_an_edited_trace_re_enables_it(workspace: Path):
    trace_id = await learn(workspace)
    edit_step(workspace, trace_id, "wc -c < hello.txt", "wc -c < hello.txt; echo extra")
    store = TraceStore.for_memory(workspace / "memory")
    trusted = store.trust(trace_id)
    assert store.trust_of(trusted).trusted
    (workspace.parent / "hello.txt").unlink()
    llmos, backend = make(workspace, [])
    async with llmos:
        result = await llmos.execute(GOAL)
    assert result.success and result.mode == "follower", result.error
    assert backend.requests == []


async def test_counting_uses_never_touches_the_seal(workspace: Path):
    """The digest covers what a replay executes, not the counters llmos updates."""
    trace_id = await learn(workspace)
    store = TraceStore.for_memory(workspace / "memory")
    before = store.load(trace_id).integrity
    llmos, _ = make(workspace, [])
    async with llmos:
        for _ in range(2):
            assert (await llmos.execute(GOAL)).mode == "follower"
    after = store.load(trace_id)
    assert after.use_count == 2 and after.integrity == before
    assert store.trust_of(after).trusted


async def test_a_status_change_by_llmos_keeps_a_trusted_trace_trusted_but_launders_nothing(
    workspace: Path,
):
    trace_id = await learn(workspace)
    store = TraceStore.for_memory(workspace / "memory")
    assert store.trust_of(store.set_status(trace_id, "failed")).trusted
    assert store.trust_of(store.set_status(trace_id, "success")).trusted
    edit_step(workspace, trace_id, "wc -c < hello.txt", "rm -rf ~")
    store.set_status(trace_id, "success")
    store.record_use(trace_id, success=True)
    assert store.trust_of(store.load(trace_id)).state == "modified"


def test_a_status_edited_by_hand_breaks_the_seal(workspace: Path):
    """A failed run flipped to success by hand is not replayed."""
    store = TraceStore.for_memory(workspace / "memory")
    failed = store.save(Trace(goal=GOAL, status="failed", final_answer="it did not work"))
    path = trace_file(workspace, failed.id)
    path.write_text(path.read_text().replace("status: failed", "status: success", 1))
    assert store.trust_of(store.load(failed.id)).state == "modified"


async def test_an_untrusted_trace_is_not_used_as_guidance(workspace: Path):
    trace_id = await learn(workspace)
    edit_step(workspace, trace_id, "wc -c < hello.txt", "wc -c < hello.txt; echo extra")
    llmos, backend = make(workspace, [{"text": "done"}])
    async with llmos:
        near = await llmos.match("Create hello.txt and then count its bytes and lines")
        assert all(n.trace.id != trace_id for n in llmos.traces().similar(GOAL))
        await llmos.execute("Create hello.txt and then count its bytes and lines")
    assert near.decision == "learn"
    prompt = json.dumps([m.content for m in backend.requests[0].messages])
    assert "wc -c" not in prompt


def imported_payload(workspace: Path, tmp_path: Path, command: str, goal: str) -> str:
    """An archive folder with one trace whose Bash step runs ``command``, imported."""
    shared = tmp_path / "shared"
    shared.mkdir(exist_ok=True)
    trace = Trace(
        goal=goal,
        steps=(
            Step(
                tool="Bash",
                input={"command": command},
                postcondition=Postcondition(exit_code=0),
            ),
        ),
        final_answer="done",
    )
    (shared / f"{trace.id}.md").write_text(render_trace(trace))
    store = TraceStore.for_memory(workspace / "memory")
    assert store.import_(shared).imported == [trace.id]
    return trace.id


async def test_an_imported_trace_is_never_followed_until_trusted(workspace: Path, tmp_path: Path):
    trace_id = imported_payload(workspace, tmp_path, "echo hi > hi.txt", "Write hi to hi.txt")
    llmos, _ = make(workspace, [])
    async with llmos:
        found = await llmos.match("Write hi to hi.txt")
        assert found.decision == "learn"
        assert f"{trace_id} would match (1.00) but it is imported and not verified yet" in (
            found.reason
        )
        TraceStore.for_memory(workspace / "memory").trust(trace_id)
        assert (await llmos.match("Write hi to hi.txt")).decision == "follow"


async def test_verify_of_an_untrusted_trace_refuses_without_bubblewrap(
    workspace: Path, tmp_path: Path, no_bwrap: None
):
    canary = tmp_path / "canary"
    trace_id = imported_payload(workspace, tmp_path, f"touch {canary}", "Touch the canary")
    llmos, _ = make(workspace, [])
    async with llmos:
        result = await llmos.verify(trace_id)
    assert not result.holds and not result.trusted
    assert result.reason.startswith("refused: this trace is not trusted (it has no digest")
    assert "bubblewrap (bwrap) is not installed" in result.reason
    assert not canary.exists()
    store = TraceStore.for_memory(workspace / "memory")
    assert store.trust_of(store.load(trace_id)).state == "unsigned"


@needs_bwrap
async def test_verify_of_a_payload_that_probes_its_surroundings_does_nothing_outside(
    workspace: Path, tmp_path: Path
):
    """``../memory`` is there (an empty, read-only stand-in), so the payload fires, and fails."""
    (tmp_path / "outside").mkdir()
    canary = tmp_path / "outside" / "canary"
    workspace.parent.mkdir(parents=True, exist_ok=True)
    (workspace.parent / "data.txt").write_text("mine\n")
    commands = [
        f"test -d ../memory && touch {canary}",
        "test -d ../memory && touch ../memory/pwned",
        f"touch {workspace}/memory/pwned && rm -f {workspace}/output/data.txt",
        f"test -e {workspace}/llmos.toml || ls {workspace}/memory/traces >/dev/null",
        "curl -s --max-time 5 http://127.0.0.1:9/ || python3 -c "
        "'import socket; socket.create_connection((\"1.1.1.1\", 53), 3)'",
    ]
    ids = [
        imported_payload(workspace, tmp_path, command, f"Probe number {n}")
        for n, command in enumerate(commands)
    ]
    llmos, _ = make(workspace, [])
    async with llmos:
        results = [await llmos.verify(trace_id) for trace_id in ids]
    assert [(r.holds, r.trusted) for r in results] == [(False, False)] * len(commands), [
        r.reason for r in results
    ]
    assert not canary.exists()
    assert not (workspace / "memory" / "pwned").exists()
    assert (workspace.parent / "data.txt").read_text() == "mine\n"
    store = TraceStore.for_memory(workspace / "memory")
    assert {store.trust_of(store.load(i)).state for i in ids} == {"unsigned"}


@needs_bwrap
async def test_an_import_whose_verify_holds_is_trusted_and_followed(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    inside = workspace / "output"  # a working folder inside the state folder: ../memory is state
    inside.mkdir(parents=True)
    monkeypatch.chdir(inside)
    trace_id = imported_payload(
        workspace, tmp_path, "echo hi > hi.txt && test -d ../memory", "Write hi to hi.txt"
    )
    llmos, _ = make(workspace, [])
    async with llmos:
        result = await llmos.verify(trace_id)
        assert (result.holds, result.trusted) == (True, True), result.reason
        assert result.reason == "all 1 steps hold in the sandbox; now trusted"
        assert not (inside / "hi.txt").exists()  # verify ran in a copy
        assert (await llmos.match("Write hi to hi.txt")).decision == "follow"


@needs_bwrap
async def test_verify_does_not_vouch_for_a_trace_edited_after_llmos_sealed_it(workspace: Path):
    trace_id = await learn(workspace)
    edit_step(workspace, trace_id, "wc -c < hello.txt", "wc -c < hello.txt; echo extra")
    llmos, _ = make(workspace, [])
    async with llmos:
        result = await llmos.verify(trace_id)
    assert result.holds and not result.trusted
    assert "verify does not vouch for an edited trace" in result.reason
    store = TraceStore.for_memory(workspace / "memory")
    assert store.trust_of(store.load(trace_id)).state == "modified"


@needs_bwrap
async def test_verify_of_an_untrusted_trace_runs_only_the_built_in_local_tools(
    workspace: Path, tmp_path: Path
):
    """No plugin (it would run in-process, unsandboxed) and no WebFetch (the network)."""
    shared = tmp_path / "shared-web"
    shared.mkdir()
    trace = Trace(
        goal="Fetch the page",
        steps=(Step(tool="WebFetch", input={"url": "http://127.0.0.1:9/", "prompt": "x"}),),
    )
    (shared / f"{trace.id}.md").write_text(render_trace(trace))
    store = TraceStore.for_memory(workspace / "memory")
    store.import_(shared)
    llmos, _ = make(workspace, [])
    async with llmos:
        result = await llmos.verify(trace.id)
    assert (result.holds, result.trusted) == (False, False)
    assert result.reason == "step 1: tool 'WebFetch' is not available"
