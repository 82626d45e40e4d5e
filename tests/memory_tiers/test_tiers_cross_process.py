"""A fact added in one process is injected into a later Learner run in another, and the
trace records what was injected."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tiers_helpers import WRITE_HELLO, scripted_llmos

from llmos.hooks.memory import HEADER
from llmos.memory import TraceStore

FACT = "Greeting files like hello.txt always end with a newline"


async def test_a_fact_added_by_another_process_reaches_the_prompt_and_the_trace(workspace: Path):
    env = {**os.environ, "LLMOS_WORKSPACE": str(workspace)}
    adder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "llmos",
        "memory",
        "add",
        FACT,
        "--tag",
        "greeting",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(adder.communicate(), 120)
    assert adder.returncode == 0, err.decode()
    assert FACT in out.decode()

    llmos, backend = scripted_llmos(workspace, WRITE_HELLO)
    async with llmos:
        result = await llmos.execute("Write a greeting to hello.txt", mode="learner")

    assert result.success
    prompt = backend.requests[0].messages[0].content
    assert prompt.startswith("Write a greeting to hello.txt\n\n" + HEADER)
    assert f"- {FACT} [greeting]" in prompt
    trace = TraceStore.for_memory(workspace / "memory").load(result.trace_id)
    [injected] = trace.injected
    assert injected.startswith("fact f-") and injected.endswith(f": {FACT}")
