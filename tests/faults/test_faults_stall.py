"""A model server that stalls mid-run: the watchdog ends the task; the workspace stays whole."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from faults_helpers import (
    FAKE_MODEL,
    GOAL_A,
    WRITE_A,
    FaultCounts,
    ledger_balances,
    llmos_cli,
    llmos_over_fake_server,
    trace_files,
)

from llmos.config import WatchdogConfig
from llmos.memory import TraceStore
from llmos.runtime.task import TaskResult
from llmos.testing.fake_llm_server import FakeLLMServer, Fault, Turn

LIMIT = {"watchdog.llm_call_timeout_s": 1.0}


async def run_until_watchdog(
    server: FakeLLMServer, workspace: Path, api: str
) -> TaskResult | BaseException:
    """The run's result, or what it raised."""
    server.enqueue(Turn(tool_calls=[WRITE_A]), Fault.stall(seconds=30))
    async with llmos_over_fake_server(api, server, workspace, **LIMIT) as llmos:
        running = asyncio.create_task(llmos.execute(GOAL_A))
        try:
            return await running
        except asyncio.CancelledError as exc:
            return exc
        finally:
            server.release()


@pytest.mark.parametrize("api", ["anthropic", "openai"])
async def test_a_stalled_model_leaves_a_failed_trace_and_a_balanced_ledger(
    api: str, server: FakeLLMServer, workspace: Path, fault_counts: FaultCounts
):
    outcome = await run_until_watchdog(server, workspace, api)
    message = outcome.error if isinstance(outcome, TaskResult) else str(outcome)
    assert "watchdog.llm_call_timeout_s" in message
    files = trace_files(workspace)
    assert files.broken == [] and files.temp_files == [] and len(files.ids) == 1
    trace = TraceStore.for_memory(workspace / "memory").load(files.ids[0])
    assert trace.status == "failed" and [s.tool for s in trace.steps] == ["Write"]
    ledger = ledger_balances(workspace)
    assert ledger.open_reservations == 0
    assert sum(ledger.charges_by_task.values()) == 1  # the call that returned, not the stalled one
    fault_counts.add("faults_injected", 1)
    fault_counts.add("server_fault_cases", 1)


async def test_execute_returns_a_watchdog_failure_instead_of_raising(
    server: FakeLLMServer, workspace: Path
):
    outcome = await run_until_watchdog(server, workspace, "openai")
    assert isinstance(outcome, TaskResult), f"execute raised {outcome!r}"
    assert (outcome.success, outcome.error_type) == (False, "WatchdogTimeout")


@pytest.mark.slow
def test_cli_run_against_a_stalled_server_fails_clearly_without_a_traceback(
    server: FakeLLMServer, workspace: Path, tmp_path: Path
):
    server.enqueue(Turn(tool_calls=[WRITE_A]), Fault.stall(seconds=30))
    workspace.mkdir(parents=True)
    (workspace / "llmos.toml").write_text(
        "[watchdog]\nllm_call_timeout_s = 1.0\n[memory]\ninsights = false\n"
    )
    done = llmos_cli(
        "run",
        "--provider",
        "openai",
        "--base-url",
        server.openai_url,
        "-m",
        FAKE_MODEL,
        "--json",
        GOAL_A,
        workspace=workspace,
        env={"OPENAI_API_KEY": "test"},
    )
    server.release()
    assert done.returncode == 1, done.stderr
    last = json.loads(done.stdout.splitlines()[-1])
    assert (last["kind"], last["error_type"]) == ("task-failed", "WatchdogTimeout")
    assert "Traceback" not in done.stderr, done.stderr[-1500:]


@pytest.mark.slow
def test_cli_says_on_stderr_while_the_model_is_silent_and_keeps_stdout_for_the_answer(
    server: FakeLLMServer, workspace: Path
):
    """A hung server is reported every ``llm_silence_notice_s`` and the failure goes to stderr."""
    server.enqueue(Fault.stall(seconds=30))
    workspace.mkdir(parents=True)
    (workspace / "llmos.toml").write_text(
        "[watchdog]\nllm_call_timeout_s = 2.5\nllm_silence_notice_s = 0.5\n"
        "[memory]\ninsights = false\n"
    )
    done = llmos_cli(
        "run",
        "-q",
        "--provider",
        "openai",
        "--base-url",
        server.openai_url,
        "-m",
        FAKE_MODEL,
        GOAL_A,
        workspace=workspace,
        env={"OPENAI_API_KEY": "test"},
    )
    server.release()
    assert done.returncode == 1, done.stderr
    assert done.stdout == "", "the failure or a warning went to stdout"
    said = [line for line in done.stderr.splitlines() if "the model has sent nothing for" in line]
    assert len(said) >= 2, done.stderr
    assert "still waiting" in said[0] and "watchdog.llm_call_timeout_s" in said[0]
    assert "failed" in done.stderr and "watchdog.llm_call_timeout_s" in done.stderr


def test_the_silence_notice_is_on_by_default_and_well_under_a_minute():
    every = WatchdogConfig().llm_silence_notice_s
    assert every is not None and every <= 20
