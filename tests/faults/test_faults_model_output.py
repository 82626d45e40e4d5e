"""Malformed model output and failing model servers, through the real SDK backends over HTTP.

The fake server speaks the Anthropic and OpenAI wire formats on 127.0.0.1 and
plays broken tool calls (JSON cut short, a tool that does not exist, arguments
of the wrong type), HTTP 500s, a stream cut in the middle, an error event in
the stream, and a stall. Each run either goes on with a clear error shown to
the model or ends with a clear error; the workspace is left whole: every trace
file parses, a failed run's trace says failed, and the ledger balances with
one charge per model call that returned.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faults_helpers import (
    GOAL_A,
    WRITE_A,
    FaultCounts,
    ledger_balances,
    llmos_over_fake_server,
    trace_files,
)

from llmos.errors import BackendError
from llmos.memory import TraceStore
from llmos.testing.fake_llm_server import FakeLLMServer, Fault, ToolUse, Turn

APIS = ("anthropic", "openai")

#: case -> (the bad call, words the error shown to the model must contain)
BAD_CALLS: dict[str, tuple[ToolUse, tuple[str, ...]]] = {
    # The backend repairs cut JSON where it can; here to ``"content": null``, which Write refuses.
    "broken_json": (
        ToolUse(name="Write", raw_arguments='{"file_path": "a.txt", "content": '),
        ("Write", "content"),
    ),
    "unknown_tool": (ToolUse(name="Frobnicate", input={"x": 1}), ("Frobnicate",)),
    "wrong_types": (
        ToolUse(name="Write", input={"file_path": 123, "content": ["alpha"]}),
        ("file_path",),
    ),
}


def shown_to_model(server: FakeLLMServer, request_index: int) -> str:
    """The text of a request body as sent: what the model was told."""
    return str(server.model_requests()[request_index].body)


def assert_workspace_whole(workspace: Path) -> None:
    files = trace_files(workspace)
    assert files.broken == [] and files.temp_files == []
    assert ledger_balances(workspace).open_reservations == 0


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", ["broken_json", "unknown_tool", "wrong_types"])
async def test_malformed_tool_call_is_shown_to_the_model_and_the_run_goes_on(
    api: str, case: str, server: FakeLLMServer, workspace: Path, fault_counts: FaultCounts
):
    bad_call, words = BAD_CALLS[case]
    server.enqueue(
        Turn(tool_calls=[bad_call]), Turn(tool_calls=[WRITE_A]), Turn(text="a.txt holds alpha")
    )
    async with llmos_over_fake_server(api, server, workspace) as llmos:
        result = await llmos.execute(GOAL_A)
        assert result.success, result.error
        told = shown_to_model(server, 1)
        for word in words:
            assert word in told, f"the model was not told about {word!r}: {told[-600:]}"
        assert (workspace.parent / "a.txt").read_text() == "alpha\n"
        assert not (workspace.parent / "123").exists()
        # The saved trace is a clean recipe: replaying it needs no model and does the job.
        (workspace.parent / "a.txt").unlink()
        requests = len(server.model_requests())
        again = await llmos.execute(GOAL_A)
    assert_workspace_whole(workspace)
    assert ledger_balances(workspace).charges_by_task[result.task_id] == 3
    fault_counts.add("faults_injected", 1)
    fault_counts.add("model_output_cases", 1)
    assert (again.mode, again.success, again.trace_id) == ("follower", True, result.trace_id)
    assert len(server.model_requests()) == requests
    assert (workspace.parent / "a.txt").read_text() == "alpha\n"


def server_faults() -> dict[str, tuple[list[Turn | Fault], int]]:
    """case -> (the server's script, model calls that return before the fault ends the run)."""
    write = Turn(tool_calls=[WRITE_A])
    return {
        "http_500": ([Fault.server_error(500), Fault.server_error(503)], 0),
        "http_500_after_a_step": ([write, Fault.server_error(500), Fault.server_error(500)], 1),
        "stream_cut": ([Fault.cut(write, after=3)], 0),
        "stream_cut_after_a_step": ([write, Fault.cut(Turn(text="a.txt holds alpha"), after=2)], 1),
        "stream_error_event": ([write, Fault.stream_error(Turn(text="done"), after=2)], 1),
    }


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", sorted(server_faults()))
async def test_failing_model_server_gives_a_clear_error_and_a_whole_workspace(
    api: str, case: str, server: FakeLLMServer, workspace: Path, fault_counts: FaultCounts
):
    script, calls_done = server_faults()[case]
    server.enqueue(*script)
    async with llmos_over_fake_server(api, server, workspace) as llmos:
        result = await llmos.execute(GOAL_A)
    assert not result.success
    assert result.error and result.error_type, result
    error_types = {cls.__name__ for cls in BackendError.__subclasses__()} | {
        "BackendError",
        "WatchdogTimeout",
    }
    assert result.error_type in error_types, (result.error_type, result.error)
    assert_workspace_whole(workspace)
    ledger = ledger_balances(workspace)
    assert ledger.charges_by_task[result.task_id] == calls_done, (case, result.error)
    if result.trace_id is not None:
        trace = TraceStore.for_memory(workspace / "memory").load(result.trace_id)
        assert trace.status == "failed"
        assert len(trace.steps) == calls_done
    else:
        assert calls_done == 0, "a run that did a step must keep it as a failed trace"
    fault_counts.add("faults_injected", 1)
    fault_counts.add("server_fault_cases", 1)


@pytest.mark.parametrize("api", APIS)
async def test_a_transient_500_is_retried_and_the_run_succeeds(
    api: str, server: FakeLLMServer, workspace: Path, fault_counts: FaultCounts
):
    server.enqueue(Fault.server_error(500), Turn(tool_calls=[WRITE_A]), Turn(text="done"))
    async with llmos_over_fake_server(api, server, workspace) as llmos:
        result = await llmos.execute(GOAL_A)
    assert result.success, result.error
    assert len(server.model_requests()) == 3
    assert ledger_balances(workspace).charges_by_task[result.task_id] == 2
    assert_workspace_whole(workspace)
    fault_counts.add("faults_injected", 1)
    fault_counts.add("server_fault_cases", 1)
