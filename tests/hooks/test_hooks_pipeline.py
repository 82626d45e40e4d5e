"""The hook pipeline itself: sync hooks under their timeout, typed inputs, the mode hooks see."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from llmos import LLMOS
from llmos.backends.scripted import ScriptedBackend
from llmos.config import load_settings
from llmos.events import Event, HookDecided
from llmos.hooks.inputs import (
    HookContext,
    HookInput,
    PostToolUseInput,
    PreToolUseInput,
    TaskEndInput,
    TaskStartInput,
)
from llmos.hooks.pipeline import Deny, Hook, HookPipeline
from llmos.runtime.bus import EventBus

#: Far longer than any timeout below: a hook that is not cut off makes the test fail, not hang.
STUCK_S = 30.0


def context(tmp_path: Path) -> HookContext:
    return HookContext(task_id="t-1", goal="g", cwd=tmp_path, workspace=tmp_path)


@pytest.fixture
def released() -> threading.Event:
    """Set when the test ends, so a hook thread left waiting on it finishes."""
    event = threading.Event()
    yield event
    event.set()


@pytest.mark.parametrize("fail_closed", [True, False])
async def test_a_sync_hook_is_cut_off_at_its_timeout(
    tmp_path: Path, released: threading.Event, fail_closed: bool
) -> None:
    bus = EventBus()
    reported: list[Event] = []
    bus.subscribe(reported.append)
    pipeline = HookPipeline(bus)

    def stuck(data: PreToolUseInput) -> None:
        released.wait(STUCK_S)  # a sync hook stuck in I/O: it blocks its thread, not the loop

    pipeline.register(
        Hook(
            name="stuck",
            event="PreToolUse",
            fn=stuck,
            timeout_s=0.1,
            fail_closed=fail_closed,
        )
    )
    verdict = await asyncio.wait_for(
        pipeline.pre_tool_use(context(tmp_path), "Bash", {"command": "ls"}), STUCK_S / 2
    )

    assert verdict.allowed is not fail_closed
    if fail_closed:
        assert verdict.hook == "stuck"
        assert "timed out after 0.1 s; denied because this hook fails closed" in verdict.reason
    errors = [e for e in reported if isinstance(e, HookDecided)]
    decisions = [("stuck", "error", "Bash")] + ([("stuck", "deny", "Bash")] if fail_closed else [])
    assert [(e.hook, e.decision, e.tool) for e in errors] == decisions
    assert "hook stuck timed out after 0.1 s" in errors[0].reason


async def test_a_sync_hook_runs_off_the_event_loop(tmp_path: Path) -> None:
    """While a sync hook blocks, the loop goes on: here it is the loop that unblocks it."""
    answered = threading.Event()
    pipeline = HookPipeline()

    def waits_for_the_loop(data: PreToolUseInput) -> Deny | None:
        return None if answered.wait(STUCK_S) else Deny("the loop was blocked")

    pipeline.register(
        Hook(name="waits", event="PreToolUse", fn=waits_for_the_loop, timeout_s=STUCK_S)
    )
    asyncio.get_running_loop().call_soon(answered.set)
    verdict = await pipeline.pre_tool_use(context(tmp_path), "Bash", {"command": "ls"})
    assert verdict.allowed, verdict.reason


async def test_a_sync_hook_that_raises_denies_when_it_fails_closed(tmp_path: Path) -> None:
    pipeline = HookPipeline()

    def broken(data: PreToolUseInput) -> None:
        raise RuntimeError("policy file unreadable")

    pipeline.register(Hook(name="broken", event="PreToolUse", fn=broken, fail_closed=True))
    verdict = await pipeline.pre_tool_use(context(tmp_path), "Bash", {"command": "ls"})
    assert not verdict.allowed
    assert "hook broken failed: RuntimeError('policy file unreadable')" in verdict.reason


def test_each_event_has_its_own_input_with_only_its_fields(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    start = TaskStartInput(ctx=ctx)
    pre = PreToolUseInput(ctx=ctx, tool="Bash", tool_input={"command": "ls"})
    assert (start.event, pre.event, pre.tool) == ("TaskStart", "PreToolUse", "Bash")
    assert not hasattr(start, "tool") and not hasattr(pre, "tool_result")
    with pytest.raises(TypeError):
        PreToolUseInput(ctx=ctx, tool="Bash")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="unknown mode 'fast'"):
        HookContext(task_id="t", goal="g", cwd=tmp_path, workspace=tmp_path, mode="fast")  # type: ignore[arg-type]


GOAL = "Create hello.txt that says hello"
LEARN = [
    {"tool_calls": [{"name": "Write", "input": {"file_path": "hello.txt", "content": "hello\n"}}]},
    {"text": "Created hello.txt."},
]


async def test_hooks_see_the_mode_the_task_runs_in(workspace: Path) -> None:
    """``auto`` until the dispatcher chooses, then the Learner; the same goal again is followed."""
    seen: list[tuple[str, str, bool]] = []

    async def watch(data: HookInput) -> None:
        seen.append((data.event, data.ctx.mode, data.ctx.replay))

    settings = load_settings(workspace=workspace)
    for run in ("learn", "follow"):
        async with LLMOS(settings=settings, backend=ScriptedBackend(LEARN)) as llmos:
            for event in ("TaskStart", "PreToolUse", "PostToolUse", "TaskEnd"):
                llmos.hooks.register(Hook(name=f"watch-{event}", event=event, fn=watch))
            result = await llmos.execute(GOAL)
            assert result.success, (run, result.outcome)

    assert seen == [
        ("TaskStart", "auto", False),
        ("PreToolUse", "learner", False),
        ("PostToolUse", "learner", False),
        ("TaskEnd", "learner", False),
        ("TaskStart", "auto", False),
        ("PreToolUse", "follower", True),
        ("PostToolUse", "follower", True),
        ("TaskEnd", "follower", False),
    ]


async def test_an_observer_reads_the_fields_of_its_event(tmp_path: Path) -> None:
    from llmos.tools.base import ToolResult

    pipeline = HookPipeline()
    outputs: list[tuple[str, str]] = []

    async def record(data: PostToolUseInput) -> None:
        outputs.append((data.tool, data.tool_result.content))

    pipeline.register(Hook(name="record", event="PostToolUse", fn=record, matcher="Bash"))
    ctx = context(tmp_path)
    result = ToolResult(content="ok")
    await pipeline.notify(PostToolUseInput(ctx=ctx, tool="Bash", tool_input={}, tool_result=result))
    await pipeline.notify(PostToolUseInput(ctx=ctx, tool="Read", tool_input={}, tool_result=result))
    await pipeline.notify(TaskEndInput(ctx=ctx, text="done", success=True))
    assert outputs == [("Bash", "ok")]


#: The README's hook, as a user writes it in ``workspace/hooks/``: typed by its event.
README_HOOK = """
from llmos import hook
from llmos.hooks.inputs import PreToolUseInput
from llmos.hooks.pipeline import Deny


@hook("PreToolUse", matcher="Bash", timeout_s=2, fail_closed=True)
def no_deploys(data: PreToolUseInput) -> Deny | None:
    if "deploy" in data.tool_input["command"]:
        return Deny("deploys need a person")
    return None
"""


async def test_the_readme_hook_loads_from_the_workspace_and_denies(workspace: Path) -> None:
    from llmos.plugins import load_user_hooks
    from llmos.workspace import Workspace

    space = Workspace(workspace).ensure()
    (space.hooks / "deploys.py").write_text(README_HOOK)
    pipeline = HookPipeline()
    report = load_user_hooks(space, pipeline, entry_points=False)
    assert (report.loaded, report.problems) == (("no_deploys",), ())
    [loaded] = pipeline.hooks
    assert (loaded.event, loaded.timeout_s, loaded.fail_closed) == ("PreToolUse", 2, True)
    ctx = HookContext(task_id="t", goal="g", cwd=space.root.parent, workspace=space.root)
    denied = await pipeline.pre_tool_use(ctx, "Bash", {"command": "./deploy.sh"})
    assert (denied.allowed, denied.hook, denied.reason) == (
        False,
        "no_deploys",
        "deploys need a person",
    )
    assert (await pipeline.pre_tool_use(ctx, "Bash", {"command": "ls"})).allowed
