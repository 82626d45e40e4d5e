"""Plan checking, the DAG runner and the scripted router, without a dispatcher."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from orchestrator_helpers import plan_text, subtask

from llmos.agents import AgentLibrary
from llmos.backends.base import BackendRequest
from llmos.errors import BackendError, ScriptExhausted
from llmos.messages import UserMessage
from llmos.modes.orchestrator.dag import run_dag
from llmos.modes.orchestrator.plan import Plan, PlanInvalid, Subtask, parse_plan
from llmos.modes.orchestrator.state import SubtaskOutcome
from llmos.testing.scripted_router import Route, ScriptedRouter

TOOLS = ["Read", "Write", "Edit", "Bash", "Glob", "Grep", "LS"]


@pytest.fixture
def library(tmp_path: Path) -> AgentLibrary:
    return AgentLibrary([(tmp_path / "agents", "workspace")])


def invalid(text: str, library: AgentLibrary) -> str:
    with pytest.raises(PlanInvalid) as caught:
        parse_plan(text, library=library, tools=TOOLS)
    assert caught.value.output == text
    return str(caught.value)


def test_a_fenced_plan_is_parsed_into_dependency_order_and_waves(library: AgentLibrary):
    text = (
        "Here you go:\n```json\n"
        + plan_text(
            subtask("write", "writer", "Write it", "a", "b"),
            subtask("a", "researcher", "Find A"),
            subtask("b", "coder", "Build B"),
        )
        + "\n```\nGood luck."
    )
    plan = parse_plan(text, library=library, tools=TOOLS)
    assert [s.id for s in plan.subtasks] == ["a", "b", "write"]
    assert plan.waves() == [["a", "b"], ["write"]]
    assert plan.agent_names == ["coder", "researcher", "writer"]


@pytest.mark.parametrize(
    ("subtasks", "message"),
    [
        (
            [subtask("a", "coder", "x", "b"), subtask("b", "coder", "y", "a")],
            "the dependencies form a cycle among subtasks a, b",
        ),
        ([subtask("a", "coder", "x", "zz")], "subtask a depends on unknown id(s) zz; ids are a"),
        (
            [subtask("a", "coder", "x"), subtask("a", "writer", "y")],
            "subtask ids must be unique; repeated: a",
        ),
        (
            [subtask("a", {"name": "t", "description": "d", "prompt": "p", "tools": ["Rm"]}, "x")],
            "subtask a: agent 't' asks for unknown tool(s) Rm; tools are Bash, Edit, Glob, Grep, "
            "LS, Read, Write",
        ),
        (
            [subtask("a", {"name": "coder", "description": "other", "prompt": "p"}, "x")],
            "subtask a defines agent 'coder', but an agent by that name already exists with "
            "another definition; use it by name or choose a new name",
        ),
        (
            [subtask("a", {"name": "Bad Name", "description": "d", "prompt": "p"}, "x")],
            "subtask a: new agent: name: agent name 'Bad Name' must be 1-40 lowercase letters",
        ),
    ],
)
def test_plans_that_cannot_run_are_refused_with_a_message_the_model_can_act_on(
    library: AgentLibrary, subtasks: list, message: str
):
    assert invalid(plan_text(*subtasks), library).startswith(message)


def test_schema_errors_name_the_field(library: AgentLibrary):
    assert invalid('{"subtasks": [{"id": "a", "agent": "coder"}]}', library) == (
        "the plan does not fit the schema: subtasks.0.description: Field required"
    )
    assert invalid('{"subtasks": []}', library).startswith(
        "the plan does not fit the schema: subtasks: List should have at least 1 item"
    )
    assert invalid('{"subtasks": [}', library).startswith("the JSON does not parse:")


def plan_of(*items: tuple[str, tuple[str, ...]]) -> Plan:
    return Plan(
        subtasks=tuple(Subtask(id=i, description=i, agent="coder", depends_on=d) for i, d in items)
    )


async def test_the_dag_never_runs_more_than_the_limit_and_reports_every_subtask():
    plan = plan_of(("a", ()), ("b", ()), ("c", ()), ("d", ("a", "b")), ("e", ("d",)))
    running: set[str] = set()
    widest = 0
    gates = {sid: asyncio.Event() for sid in "abcde"}
    reported: list[str] = []

    async def run_one(task: Subtask) -> SubtaskOutcome:
        nonlocal widest
        running.add(task.id)
        widest = max(widest, len(running))
        await gates[task.id].wait()
        running.discard(task.id)
        return SubtaskOutcome(id=task.id, agent="coder", status="done", text=task.id)

    async def on_outcome(outcome: SubtaskOutcome) -> None:
        reported.append(outcome.id)

    dag = asyncio.create_task(
        run_dag(plan, run_one, outcomes={}, on_outcome=on_outcome, concurrency=2)
    )
    for _ in range(5):
        await asyncio.sleep(0)
    assert running == {"a", "b"}  # c waits for a free slot, d for a and b
    for sid in "bacde":
        gates[sid].set()
        for _ in range(5):
            await asyncio.sleep(0)
    results = await dag
    assert widest == 2
    assert reported == ["b", "a", "c", "d", "e"]
    assert all(o.status == "done" for o in results.values())


async def test_a_failure_skips_its_dependents_but_not_independent_subtasks():
    plan = plan_of(("a", ()), ("b", ("a",)), ("c", ("b",)), ("x", ()))

    async def run_one(task: Subtask) -> SubtaskOutcome:
        status = "failed" if task.id == "a" else "done"
        return SubtaskOutcome(id=task.id, agent="coder", status=status, error="boom")

    async def ignore(outcome: SubtaskOutcome) -> None:
        return None

    results = await run_dag(plan, run_one, outcomes={}, on_outcome=ignore, concurrency=4)
    assert {k: (v.status, v.error) for k, v in results.items()} == {
        "a": ("failed", "boom"),
        "x": ("done", "boom"),
        "b": ("skipped", "depends on a, which failed"),
        "c": ("skipped", "depends on b, which was skipped"),
    }


def request(agent: str | None, goal: str) -> BackendRequest:
    return BackendRequest(system="sys", messages=(UserMessage(content=goal),), agent=agent)


async def drain(router: ScriptedRouter, req: BackendRequest) -> list:
    return [event async for event in router.stream(req)]


async def test_the_router_picks_turns_by_agent_and_pattern_each_in_its_own_order():
    router = ScriptedRouter(
        [
            Route(agent="planner", turns=[{"text": "plan"}]),
            Route(pattern=r"\bfacts\b", turns=[{"text": "f1"}, {"text": "f2"}]),
            Route(pattern="report", fail="server down"),
        ]
    )
    await drain(router, request(None, "find facts"))
    await drain(router, request("planner", "the goal"))
    second = await drain(router, request(None, "more facts"))
    assert "".join(e.text for e in second if hasattr(e, "text")) == "f2"
    with pytest.raises(BackendError, match="server down"):
        await drain(router, request(None, "write the report"))
    with pytest.raises(
        ScriptExhausted,
        match=re.escape(
            "no scripted route has a turn left for agent=None, prompt 'sys last facts' "
            "(matching routes: \\bfacts\\b: 2/2); add a Route"
        ),
    ):
        await drain(router, request(None, "last facts"))
    assert router.served == [r"\bfacts\b", "planner", r"\bfacts\b", "report"]
