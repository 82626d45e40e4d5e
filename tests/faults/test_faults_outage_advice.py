"""An outage is not advice: the next run's prompt does not tell the model to avoid it.

A run that fails because the key was refused, the server erred or the budget
ran out failed for no reason the model could act on. Its trace is kept (the
record of what ran), but the Learner of a later similar goal is not told
"an earlier attempt failed … avoid what made it fail" about it. A run that
failed at the task itself still is: that is what the advice is for.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from faults_helpers import FAKE_MODEL, GOAL_A, WRITE_A, FaultCounts, llmos_cli, trace_files

from llmos.memory import TraceStore
from llmos.testing.fake_llm_server import FakeLLMServer, Fault, Turn

ADVICE = "An earlier attempt"


def run_cli(server: FakeLLMServer, workspace: Path, goal: str, *flags: str) -> dict[str, object]:
    done = llmos_cli(
        "run",
        "--provider",
        "anthropic",
        "--base-url",
        server.url,
        "-m",
        FAKE_MODEL,
        "--json",
        *flags,
        goal,
        workspace=workspace,
        env={"ANTHROPIC_API_KEY": "test"},
    )
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def prompt_text(body: object) -> str:
    """Everything a model request told the model, as one string."""
    return json.dumps(body, ensure_ascii=False)


@pytest.mark.slow
@pytest.mark.parametrize(
    "outage",
    [Fault.auth_failed(), Fault.http(500, headers={"x-should-retry": "false"})],
    ids=["401", "500"],
)
def test_a_run_ended_by_an_outage_is_kept_but_is_not_advice_for_the_next_run(
    server: FakeLLMServer, workspace: Path, fault_counts: FaultCounts, outage: Fault
):
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "llmos.toml").write_text("[memory]\ninsights = false\n")
    server.enqueue(outage)
    first = run_cli(server, workspace, GOAL_A)
    assert first["kind"] == "task-failed"
    (kept,) = trace_files(workspace).ids
    trace = TraceStore.for_memory(workspace / "memory").load(kept)
    assert trace.status == "failed"

    server.enqueue(Turn(tool_calls=[WRITE_A]), Turn(text="done"))
    before = len(server.model_requests())
    second = run_cli(server, workspace, GOAL_A)
    assert second["kind"] == "task-finished", second
    asked = server.model_requests()[before]
    assert ADVICE not in prompt_text(asked.body)
    assert server.url not in prompt_text(asked.body)
    fault_counts.add("faults_injected", 1)


@pytest.mark.slow
def test_a_run_that_failed_at_the_task_is_still_advice(server: FakeLLMServer, workspace: Path):
    """The control: the check above can fail, since a real failure is still handed on."""
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "llmos.toml").write_text("[memory]\ninsights = false\n[learner]\nmax_turns = 1\n")
    server.enqueue(Turn(tool_calls=[WRITE_A]))
    first = run_cli(server, workspace, GOAL_A)
    assert (first["kind"], first["error_type"]) == ("task-failed", "MaxTurns")

    server.enqueue(Turn(text="done"))
    before = len(server.model_requests())
    run_cli(server, workspace, GOAL_A)
    assert ADVICE in prompt_text(server.model_requests()[before].body)
