"""The security hooks in the real pipeline, and in a real agent run over the scripted backend."""

from __future__ import annotations

import pytest

from llmos.backends.scripted import ScriptedBackend
from llmos.hooks.pipeline import HookContext, HookPipeline
from llmos.hooks.security import security_hooks
from llmos.messages import ToolResultMessage, Usage
from llmos.modes.learner import LearnerSettings, run_learner
from llmos.runtime.bus import EventBus
from llmos.runtime.task import TaskContext
from llmos.tools.base import ToolContext, ToolRegistry
from llmos.tools.bash import BashTool


def pipeline(layout, ask=None) -> HookPipeline:
    hooks = HookPipeline(ask=ask)
    for hook in security_hooks(home=layout.home):
        hooks.register(hook)
    return hooks


def context(layout, *, replay: bool = False) -> HookContext:
    return HookContext(
        task_id="t", goal="g", cwd=layout.cwd, workspace=layout.workspace, replay=replay
    )


def test_security_hooks_fail_closed_and_match_their_tools(layout) -> None:
    bash, files = security_hooks()
    assert bash.fail_closed and files.fail_closed
    assert bash.matches("Bash") and not bash.matches("Read")
    assert all(files.matches(t) for t in ("Read", "Write", "Edit", "Glob", "Grep", "LS"))
    assert not files.matches("Bash")


@pytest.mark.parametrize("replay", [False, True])
async def test_dangerous_bash_is_denied_live_and_in_replay(layout, replay: bool) -> None:
    outcome = await pipeline(layout).pre_tool_use(
        context(layout, replay=replay), "Bash", {"command": "cd /tmp && rm -rf ~"}
    )
    assert not outcome.allowed
    assert outcome.hook == "security-bash"
    assert outcome.reason == (
        f"security policy: deletes {layout.home}, which contains the "
        f"working directory {layout.cwd} [rm -rf ~]"
    )


async def test_harmless_bash_passes(layout) -> None:
    outcome = await pipeline(layout).pre_tool_use(
        context(layout), "Bash", {"command": "rm -rf build && ls"}
    )
    assert outcome.allowed


async def test_ask_goes_to_the_person_and_is_a_deny_without_one(layout) -> None:
    asked: list[tuple[str, str]] = []

    async def person(tool: str, reason: str) -> bool:
        asked.append((tool, reason))
        return True

    command = {"command": "git push --force"}
    granted = await pipeline(layout, ask=person).pre_tool_use(context(layout), "Bash", command)
    assert granted.allowed
    assert asked and asked[0][0] == "Bash" and "git push --force" in asked[0][1]
    refused = await pipeline(layout).pre_tool_use(context(layout), "Bash", command)
    assert not refused.allowed
    assert refused.reason.endswith("(needs approval; nobody to ask)")


async def test_bash_without_a_command_string_is_denied(layout) -> None:
    outcome = await pipeline(layout).pre_tool_use(context(layout), "Bash", {"command": 3})
    assert not outcome.allowed
    assert outcome.reason == "security policy: Bash needs a string 'command', got 3"


@pytest.mark.parametrize(
    ("tool", "tool_input", "allowed"),
    [
        ("Read", {"file_path": "notes.txt"}, True),
        ("Read", {"file_path": "~/.ssh/id_rsa"}, False),
        ("Write", {"file_path": "../../.bashrc", "content": "x"}, False),
        ("Edit", {"file_path": "src/a.py", "old_string": "a", "new_string": "b"}, True),
        ("Glob", {"pattern": "*.py"}, True),
        ("Grep", {"pattern": "x", "path": "/etc"}, False),
        ("LS", {"path": "."}, True),
    ],
)
async def test_file_tools_are_confined(layout, tool, tool_input, allowed) -> None:
    outcome = await pipeline(layout).pre_tool_use(context(layout), tool, tool_input)
    assert outcome.allowed is allowed, outcome.reason
    if not allowed:
        assert outcome.hook == "security-files"


async def _free(model: str, usage: Usage) -> float:
    return 0.0


async def test_agent_run_dangerous_command_is_not_executed_and_the_run_goes_on(layout) -> None:
    """The model asks for a write outside the workspace: refused, told why, and it carries on."""
    cwd = layout.workspace / "output"
    bus = EventBus()
    task = TaskContext(
        task_id="t-sec",
        goal="write files",
        bus=bus,
        hooks=pipeline(layout),
        tools=ToolRegistry([BashTool()]),
        tool_ctx=ToolContext(cwd=cwd, workspace=layout.workspace),
        price=_free,
    )
    escape = layout.home / "pwned.txt"
    backend = ScriptedBackend(
        [
            {
                "tool_calls": [
                    {"name": "Bash", "input": {"command": "echo pwned > ../../pwned.txt"}}
                ]
            },
            {"tool_calls": [{"name": "Bash", "input": {"command": "echo ok > fine.txt"}}]},
            {"text": "done"},
        ]
    )
    outcome = await run_learner(task, backend, LearnerSettings())
    assert outcome.success
    assert not escape.exists()
    assert (cwd / "fine.txt").read_text() == "ok\n"
    refused = backend.requests[1].messages[-1]
    assert isinstance(refused, ToolResultMessage) and refused.is_error
    assert f"writes {escape}, the home folder, outside the working directory" in refused.content
