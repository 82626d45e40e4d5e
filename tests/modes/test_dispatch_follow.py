"""Learn once, replay for free: the dispatcher's modes end to end through the Python API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmos import LLMOS
from llmos.backends.scripted import ScriptedBackend
from llmos.config import load_settings
from llmos.economy import TokenEconomy
from llmos.events import Event, Healed, ModeChosen, ReplayDiverged, ToolCallStarted
from llmos.memory import TraceStore

PRICED = "claude-sonnet-4-5"  # a real price table, so learned runs cost something

HELLO = [
    {"tool_calls": [{"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}]},
    {"tool_calls": [{"name": "Bash", "input": {"command": "wc -c < hello.txt"}}]},
    {"text": "hello.txt holds 6 bytes."},
]


def make(workspace: Path, turns: list[dict[str, Any]], **kw: Any) -> tuple[LLMOS, ScriptedBackend]:
    backend = ScriptedBackend(turns, model=PRICED)
    settings = load_settings(workspace=workspace, overrides=kw)
    return LLMOS(settings=settings, backend=backend), backend


async def test_second_run_replays_with_no_backend_call_and_reports_the_saving(workspace: Path):
    llmos, backend = make(workspace, HELLO)
    async with llmos:
        learned = await llmos.execute("Create hello.txt and count its bytes")
        assert learned.success and learned.mode == "learner" and learned.cost_usd > 0
        (workspace.parent / "hello.txt").unlink()
        calls_before = len(backend.requests)
        followed = await llmos.execute("create hello.txt, and count its bytes!")
    assert followed.mode == "follower" and followed.success
    assert len(backend.requests) == calls_before
    assert followed.cost_usd == 0 and followed.saved_usd == pytest.approx(learned.cost_usd)
    assert followed.trace_id == learned.trace_id
    assert followed.text == "hello.txt holds 6 bytes."
    assert (workspace.parent / "hello.txt").read_text() == "hello\n"
    trace = TraceStore.for_memory(workspace / "memory").load(learned.trace_id)
    assert (trace.use_count, trace.replay_successes) == (1, 1)
    report = TokenEconomy(workspace / "ledger.sqlite").report()
    assert report.saved_usd == pytest.approx(learned.cost_usd)
    assert report.spent_usd == pytest.approx(learned.cost_usd)


async def test_a_pure_replay_never_builds_a_backend(workspace: Path, tmp_path: Path):
    script = tmp_path / "s.json"
    script.write_text(
        '[{"tool_calls": [{"name": "Write", "input": {"file_path": "a.txt", '
        '"content": "a"}}]}, {"text": "ok"}]'
    )
    first = LLMOS(workspace, provider="scripted", script=str(script))
    assert (await first.execute("Make a.txt")).mode == "learner"
    await first.shutdown()
    script.unlink()  # a backend built now would fail: the script is gone
    second = LLMOS(workspace, provider="scripted", script=str(script))
    async with second:
        result = await second.execute("make a.txt")
        assert result.mode == "follower" and result.success
        assert not second.services.backends.built


async def test_a_slot_variant_replays_with_the_new_value(workspace: Path):
    turns = [
        {
            "tool_calls": [
                {
                    "name": "Write",
                    "input": {"file_path": "message.txt", "content": "hello world\n"},
                },
                {"name": "Bash", "input": {"command": "tr a-z A-Z < message.txt > shout.txt"}},
            ]
        },
        {"text": "done"},
    ]
    llmos, backend = make(workspace, turns)
    async with llmos:
        await llmos.execute(
            "Write 'hello world' to message.txt and save an uppercase copy as shout.txt"
        )
        followed = await llmos.execute(
            "Write 'good morning' to message.txt and save an uppercase copy as shout.txt"
        )
    assert followed.mode == "follower", followed.error
    out = workspace.parent
    assert (out / "message.txt").read_text() == "good morning\n"
    assert (out / "shout.txt").read_text() == "GOOD MORNING\n"
    assert len(backend.requests) == 2


async def test_divergence_is_healed_by_the_learner_and_saved_as_a_new_version(workspace: Path):
    out = workspace.parent
    out.mkdir(parents=True, exist_ok=True)
    (out / "data.txt").write_text("a\nb\n")
    turns = [
        {"tool_calls": [{"name": "Bash", "input": {"command": "wc -l < data.txt > count.txt"}}]},
        {"text": "counted"},
        # the heal, after data.txt has gone:
        {
            "tool_calls": [
                {"name": "Write", "input": {"file_path": "data.txt", "content": "x\n"}},
                {"name": "Bash", "input": {"command": "wc -l < data.txt > count.txt"}},
            ]
        },
        {"text": "recreated and counted"},
    ]
    llmos, backend = make(workspace, turns)
    events: list[Event] = []
    llmos.subscribe(events.append)
    async with llmos:
        learned = await llmos.execute("Count the lines of data.txt into count.txt")
        (out / "data.txt").unlink()
        healed = await llmos.execute("Count the lines of data.txt into count.txt")
    assert healed.success and healed.mode == "healed"
    assert len(backend.requests) == 4
    heal_prompt = backend.requests[2].messages[0].content
    assert "did not hold" in heal_prompt and "wc -l < data.txt" in heal_prompt
    [diverged] = [e for e in events if isinstance(e, ReplayDiverged)]
    assert (diverged.trace_id, diverged.step, diverged.tool) == (learned.trace_id, 1, "Bash")
    assert (diverged.expected_error, diverged.seen_error) == (False, True)
    assert "diverged at step 1" in diverged.message
    [healed_event] = [e for e in events if isinstance(e, Healed)]
    assert (healed_event.trace_id, healed_event.new_trace_id) == (
        learned.trace_id,
        healed.trace_id,
    )
    store = TraceStore.for_memory(workspace / "memory")
    assert store.load(learned.trace_id).replay_failures == 1
    new = store.load(healed.trace_id)
    assert new.parent == learned.trace_id
    assert [s.tool for s in new.steps] == ["Write", "Bash"]  # the failed replayed step is dropped
    assert (out / "count.txt").read_text().strip() == "1"


async def test_follower_mode_without_a_match_fails_without_calling_the_model(workspace: Path):
    llmos, backend = make(workspace, HELLO)
    async with llmos:
        result = await llmos.execute("Deploy the website", mode="follower")
    assert not result.success and result.error_type == "NoMatch"
    assert "mode auto or learner" in (result.error or "")
    assert backend.requests == []


async def test_a_different_task_is_learned_not_followed(workspace: Path):
    llmos, backend = make(workspace, [*HELLO, {"text": "nothing to delete"}])
    events: list[Event] = []
    llmos.subscribe(events.append)
    async with llmos:
        await llmos.execute("Create hello.txt and count its bytes")
        other = await llmos.execute("Delete hello.txt")
    assert other.mode == "learner"
    assert [e.mode for e in events if isinstance(e, ModeChosen)] == ["learner", "learner"]
    assert len(backend.requests) == 4


async def test_admission_refuses_a_task_that_cannot_fit_the_budget(workspace: Path):
    llmos, backend = make(workspace, HELLO, **{"budget.total_usd": 0.001})
    async with llmos:
        result = await llmos.execute("Create hello.txt and count its bytes")
    assert not result.success and result.error_type == "BudgetExceeded"
    assert "left" in (result.error or "") and "llmos budget set" in (result.error or "")
    assert backend.requests == []


async def test_the_budget_stops_a_run_before_the_call_that_would_overspend(workspace: Path):
    big = [
        {
            "tool_calls": [
                {"name": "Write", "input": {"file_path": f"big{n}.txt", "content": "x" * 3_000}}
            ]
        }
        for n in range(20)
    ]
    llmos, backend = make(
        workspace,
        [*big, {"text": "done"}],
        **{"budget.total_usd": 0.1, "learner.max_tokens": 1000},
    )
    async with llmos:
        result = await llmos.execute("Write big files")
    assert not result.success and result.error_type == "BudgetExceeded"
    assert "the next call needs about" in (result.error or "")
    report = TokenEconomy(workspace / "ledger.sqlite").report()
    assert 0.05 < report.spent_usd <= 0.1
    assert report.calls == len(backend.requests) < 21


async def test_streaming_yields_the_events_of_a_replay(workspace: Path):
    llmos, _ = make(workspace, HELLO)
    async with llmos:
        await llmos.execute("Create hello.txt and count its bytes")
        kinds = [e.kind async for e in llmos.stream("Create hello.txt and count its bytes")]
    assert kinds[0] == "task-started" and kinds[-1] == "task-finished"
    assert "mode-chosen" in kinds and kinds.count("tool-call-started") == 2


async def test_replayed_calls_are_marked_as_replays(workspace: Path):
    llmos, _ = make(workspace, HELLO)
    events: list[Event] = []
    llmos.subscribe(events.append)
    async with llmos:
        await llmos.execute("Create hello.txt and count its bytes")
        await llmos.execute("Create hello.txt and count its bytes")
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [e.replay for e in started] == [False, False, True, True]
