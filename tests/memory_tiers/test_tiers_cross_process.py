"""A fact added in one process is injected into a later Learner run's prompt in another."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tiers_helpers import WRITE_HELLO, scripted_llmos

from llmos.hooks.memory import HEADER, MemoryInjector
from llmos.memory import Matcher, TraceStore
from llmos.memory.facts import FactStore

ADD_FACT = """
import sys
from pathlib import Path
from llmos.memory.facts import FactStore
fact = FactStore.for_memory(Path(sys.argv[1])).add(sys.argv[2], tags=["greeting"])
print(fact.id)
"""
FACT = "Greeting files like hello.txt always end with a newline"


async def test_a_fact_added_by_another_process_reaches_the_learner_prompt(workspace: Path):
    added = subprocess.run(
        [sys.executable, "-c", ADD_FACT, str(workspace / "memory"), FACT],
        capture_output=True, text=True, timeout=120, check=True,
    )
    fact_id = added.stdout.strip()

    llmos, backend = scripted_llmos(workspace, WRITE_HELLO)
    memory = llmos.workspace.memory
    injector = MemoryInjector(FactStore.for_memory(memory), Matcher(TraceStore.for_memory(memory)))
    llmos.hooks.register(injector.hook())
    async with llmos:
        result = await llmos.execute("Write a greeting to hello.txt", mode="learner")

    assert result.success
    prompt = backend.requests[0].messages[0].content
    assert prompt.startswith("Write a greeting to hello.txt\n\n" + HEADER)
    assert f"- {FACT} [greeting]" in prompt
    assert injector.injected_for(result.task_id) == (f"fact {fact_id}: {FACT}",)
    assert len(backend.requests) == 2 and FACT not in backend.requests[1].messages[-1].content
