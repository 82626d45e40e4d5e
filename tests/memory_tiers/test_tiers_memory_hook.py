"""Memory injection: relevant facts and near traces go into the prompt, within a token bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos.backends.base import estimate_tokens
from llmos.hooks.inputs import HookContext, UserPromptSubmitInput
from llmos.hooks.memory import FOOTER, HEADER, MemoryInjector, memory_hook
from llmos.hooks.pipeline import HookPipeline
from llmos.memory import Matcher, Step, Trace, TraceStore
from llmos.memory.facts import FactStore

GOAL = "Create a Python calculator in calc.py"


@pytest.fixture
def memory(tmp_path: Path) -> Path:
    return tmp_path / "workspace" / "memory"


@pytest.fixture
def facts(memory: Path) -> FactStore:
    return FactStore.for_memory(memory)


async def prompt_context(
    hook_owner: MemoryInjector | None, goal: str, *, hook=None, task_id: str = "t-1"
) -> list[str]:
    pipeline = HookPipeline()
    pipeline.register(hook or hook_owner.hook())  # type: ignore[union-attr]
    ctx = HookContext(task_id=task_id, goal=goal, cwd=Path("."), workspace=Path("."))
    return await pipeline.collect_context(UserPromptSubmitInput(ctx=ctx, prompt=goal))


def trace(goal: str, *paths: str, status: str = "success") -> Trace:
    return Trace(
        goal=goal,
        status=status,  # type: ignore[arg-type]
        steps=tuple(Step(tool="Write", input={"file_path": p, "content": "x"}) for p in paths),
    )


async def test_the_most_relevant_fact_comes_first_and_is_recorded(facts: FactStore) -> None:
    facts.add("Python files in this workspace use four spaces")
    best = facts.add(
        "The calculator in calc.py must use Decimal, never float", tags=("calculator",)
    )
    facts.add("Deploys go through make deploy")  # unrelated: left out
    injector = MemoryInjector(facts)
    [added] = await prompt_context(injector, GOAL)
    lines = added.splitlines()
    assert lines[0] == HEADER and lines[-1] == FOOTER
    assert lines[1:4] == [
        "Facts:",
        "- The calculator in calc.py must use Decimal, never float [calculator]",
        "- Python files in this workspace use four spaces",
    ]
    assert "deploy" not in added
    injected = injector.injected_for("t-1")
    assert injected[0] == f"fact {best.id}: The calculator in calc.py must use Decimal, never float"
    assert len(injected) == 2
    assert injector.take("t-1") == injected and injector.injected_for("t-1") == ()


async def test_nothing_relevant_adds_nothing(facts: FactStore) -> None:
    facts.add("Deploys go through make deploy")
    injector = MemoryInjector(facts)
    assert await prompt_context(injector, GOAL) == []
    assert injector.injected_for("t-1") == ()


@pytest.mark.parametrize("bound", [40, 60, 100, 250, 600])
async def test_the_token_bound_holds_and_relevance_order_is_kept(
    facts: FactStore, bound: int
) -> None:
    for number in range(12):
        facts.add(
            f"Calculator note {number}: "
            + "the calculator keeps its state in memory. " * (number + 1),
            tags=("calculator",),
        )
    injector = MemoryInjector(facts, max_tokens=bound, max_facts=12)
    added = await prompt_context(injector, "Fix the calculator")
    if not added:
        shortest_useful_line = "- " + "x" * 38
        assert estimate_tokens(f"{HEADER}\nFacts:\n{shortest_useful_line}\n{FOOTER}") > bound
        return
    [text] = added
    assert estimate_tokens(text) <= bound
    assert text.startswith(HEADER) and text.endswith(FOOTER)
    shown = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(shown) == len(injector.injected_for("t-1"))
    ranked = [f"- {hit.fact.text}" for hit in facts.search("Fix the calculator", limit=12)]
    for line, full in zip(shown, ranked, strict=False):  # a cut last item starts the same
        assert full.startswith(line.removesuffix(" [calculator]").removesuffix("…"))


async def test_a_huge_fact_is_cut_to_the_bound(facts: FactStore) -> None:
    facts.add("calculator " * 2_000)
    [text] = await prompt_context(MemoryInjector(facts, max_tokens=200), "calculator")
    assert estimate_tokens(text) <= 200 and "…" in text


async def test_near_traces_are_added_but_not_the_one_being_followed(
    facts: FactStore, memory: Path
) -> None:
    store = TraceStore.for_memory(memory)
    followed = store.save(trace(GOAL, "calc.py"))
    near = store.save(
        trace("Create a Python calculator with tests in calc.py", "calc.py", "test_calc.py")
    )
    store.save(
        trace("Create a Python calculator with history in calc.py", "calc.py", status="failed")
    )
    store.save(trace("Delete the logs folder", "logs"))
    injector = MemoryInjector(facts, Matcher(store))
    [text] = await prompt_context(injector, "create a python calculator in calc.py")
    assert "Similar tasks done before:" in text
    assert (
        '- "Create a Python calculator with tests in calc.py" — steps: Write '
        '{"file_path": "calc.py", "content": "x"}; Write {"file_path": "test_calc.py", '
        '"content": "x"}'
    ) in text
    assert "history" not in text and "logs" not in text
    assert injector.injected_for("t-1") == (
        f"trace {near.id}: Create a Python calculator with tests in calc.py",
    )
    assert followed.id not in text


async def test_memory_hook_is_a_user_prompt_submit_hook(facts: FactStore) -> None:
    facts.add("calc.py is run with python3, never python")
    hook = memory_hook(facts, max_tokens=300)
    assert (hook.event, hook.name) == ("UserPromptSubmit", "memory")
    [text] = await prompt_context(None, GOAL, hook=hook)
    assert "- calc.py is run with python3, never python" in text


async def test_injections_are_kept_per_task(facts: FactStore) -> None:
    facts.add("The calculator uses Decimal")
    facts.add("Reports are written in Markdown")
    injector = MemoryInjector(facts)
    await prompt_context(injector, "a calculator", task_id="t-a")
    await prompt_context(injector, "a report", task_id="t-b")
    assert [r.split(": ", 1)[1] for r in injector.injected_for("t-a")] == [
        "The calculator uses Decimal"
    ]
    assert [r.split(": ", 1)[1] for r in injector.injected_for("t-b")] == [
        "Reports are written in Markdown"
    ]
