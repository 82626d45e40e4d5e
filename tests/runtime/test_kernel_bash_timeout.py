"""A Bash call past tools.bash_timeout: killed with its children, and the run goes on."""

from __future__ import annotations

from pathlib import Path

from kernel_helpers import EventLog, make_llmos, scheduler_for

from llmos.backends.scripted import ScriptedBackend
from llmos.events import ToolCallFinished
from llmos.testing.processes import process_alive, wait_until_gone

SLEEPER = "sleep 300 & echo $! > child.pid; wait"


async def test_a_bash_call_past_its_timeout_is_killed_and_the_run_continues(workspace: Path):
    turns = [
        {"tool_calls": [{"name": "Bash", "input": {"command": SLEEPER}}]},
        {"text": "the command took too long; moving on"},
    ]
    backend = ScriptedBackend(turns)
    async with make_llmos(workspace, backend, **{"tools.bash_timeout": 0.5}) as llmos:
        log = EventLog(llmos.bus)
        scheduler = scheduler_for(llmos, concurrency=1)
        handle = await scheduler.submit("run the slow command", mode="learner")
        result = await handle.result()
        await scheduler.close()
    # The run went on to its answer, and is judged failed: the command it ends on never ran.
    assert result.text == "the command took too long; moving on"
    assert (result.outcome.status, result.outcome.kind) == ("failed", "step-failed")
    [finished] = log.of(ToolCallFinished)
    assert finished.is_error
    assert "[timed out after 0.5 s: the command and its child processes were killed" in (
        finished.output
    )
    # The model saw the time-out as the tool result of its call.
    tool_result = backend.requests[1].messages[-1]
    assert "timed out after 0.5 s" in tool_result.content
    child = int((workspace.parent / "child.pid").read_text())
    assert await wait_until_gone(child)
    assert not process_alive(child)
