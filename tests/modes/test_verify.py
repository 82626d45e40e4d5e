"""`verify` replays a trace in a throwaway copy and reports whether it still holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos import LLMOS
from llmos.backends.scripted import ScriptedBackend
from llmos.config import load_settings
from llmos.memory import TraceStore
from llmos.tools.sandbox import sandbox_status


def make(workspace: Path, turns: list[dict]) -> LLMOS:
    return LLMOS(settings=load_settings(workspace=workspace), backend=ScriptedBackend(turns))


async def test_a_trace_that_holds_is_verified_without_touching_the_workspace(workspace: Path):
    llmos = make(
        workspace,
        [
            {"tool_calls": [{"name": "Write", "input": {"file_path": "a.txt", "content": "a\n"}}]},
            {"text": "ok"},
        ],
    )
    async with llmos:
        learned = await llmos.execute("Create a.txt")
        (workspace.parent / "a.txt").unlink()
        result = await llmos.verify(learned.trace_id)
    assert result.holds and result.reason == "all 1 steps hold"
    assert not (workspace.parent / "a.txt").exists()


async def test_a_trace_that_no_longer_holds_says_which_step(workspace: Path):
    out = workspace.parent
    out.mkdir(parents=True, exist_ok=True)
    (out / "input.txt").write_text("x\n")
    llmos = make(
        workspace,
        [
            {"tool_calls": [{"name": "Bash", "input": {"command": "cat input.txt > copy.txt"}}]},
            {"text": "copied"},
        ],
    )
    async with llmos:
        learned = await llmos.execute("Copy input.txt to copy.txt")
        (out / "input.txt").unlink()
        result = await llmos.verify(learned.trace_id)
    assert not result.holds
    assert result.reason.startswith("step 1: it failed on replay but succeeded when learned")
    store = TraceStore.for_memory(workspace / "memory")
    assert store.load(learned.trace_id).replay_failures == 0  # verifying is not using


@pytest.mark.skipif(not sandbox_status().available, reason="bubblewrap is not usable here")
async def test_an_untrusted_import_becomes_followable_once_verified(
    workspace: Path, tmp_path: Path
):
    llmos = make(
        workspace,
        [
            {"tool_calls": [{"name": "Write", "input": {"file_path": "b.txt", "content": "b\n"}}]},
            {"text": "ok"},
        ],
    )
    async with llmos:
        learned = await llmos.execute("Create b.txt")
        store = TraceStore.for_memory(workspace / "memory")
        store.export(tmp_path / "shared")
        store.delete(learned.trace_id or "")
        assert store.import_(tmp_path / "shared").imported == [learned.trace_id]
        assert (await llmos.match("Create b.txt")).decision != "follow"
        result = await llmos.verify(learned.trace_id or "")
        assert (result.holds, result.trusted) == (True, True), result.reason
        assert (await llmos.match("Create b.txt")).decision == "follow"


WRITE_A = [
    {"tool_calls": [{"name": "Write", "input": {"file_path": "a.txt", "content": "a\n"}}]},
    {"text": "ok"},
]


async def test_verify_promotes_an_unverified_trace_whose_check_passes_on_the_replay(
    workspace: Path,
):
    from llmos.outcome import Outcome

    async with make(workspace, WRITE_A) as llmos:
        learned = await llmos.execute("Create a.txt")
        store = llmos.traces().home
        store.set_outcome(learned.trace_id, Outcome.unverified("its replay did not hold"))
        assert (await llmos.match("Create a.txt")).decision == "guide"
        result = await llmos.verify(learned.trace_id)
        assert result.holds and result.trace.status == "success"
        assert result.reason.startswith("verified: all 1 steps hold; checked: file a.txt exists")
        assert (await llmos.match("Create a.txt")).decision == "follow"


async def test_verify_leaves_an_undecidable_trace_unverified_and_never_replays_a_failed_one(
    workspace: Path,
):
    talk = [{"tool_calls": [{"name": "LS", "input": {"path": "."}}]}, {"text": "the sea is big"}]
    async with make(workspace, [*talk, {"text": "nothing"}]) as llmos:
        said = await llmos.execute("Tell me about the sea")
        result = await llmos.verify(said.trace_id)
        assert result.holds and result.trace.status == "unverified"
        assert "it stays unverified: could not be checked" in result.reason
        failed = await llmos.execute("Create b.txt")  # answers without writing it
        refused = await llmos.verify(failed.trace_id)
        assert not refused.holds
        assert refused.reason.startswith(
            "not replayed: it records a failed run (acceptance-failed)"
        )
