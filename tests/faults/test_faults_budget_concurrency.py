"""8 processes, one small budget, prompts a tokenizer counts high: spend never exceeds it.

Each goal carries 38,000 characters of Chinese: about 114,000 UTF-8 bytes, and
(as a real tokenizer counts them) about 45,000 tokens, which the fake server
reports honestly as each call's usage; four characters a token would have
guessed 9,500. Before a call is made it is priced at a bound it cannot exceed
(the prompt's bytes, ``max_tokens`` out) and must fit what is left, the
after-run insights call included, so the ledger's total stays under the
budget however the 8 runs interleave.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from faults_helpers import FAKE_MODEL, FaultCounts, env_count

from llmos.testing.cli import STARTER_SWITCH
from llmos.testing.fake_llm_server import FakeLLMServer, FakeUsage, Turn

BUDGET_USD = 0.5
CHINESE_CHARS = 38_000
#: What a real tokenizer makes of such a prompt, reported as each call's usage.
HONEST_USAGE = FakeUsage(input_tokens=45_000, output_tokens=40)


def chinese(seed: int) -> str:
    """Different text per run, so no run can follow another's trace."""
    rng = random.Random(seed)
    return "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(CHINESE_CHARS))


def spent_nano(workspace: Path) -> int:
    conn = sqlite3.connect(workspace / "ledger.sqlite")
    try:
        return conn.execute("SELECT COALESCE(SUM(nano_usd), 0) FROM charges").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.slow
def test_eight_processes_never_spend_more_than_the_budget(
    tmp_path: Path, fault_counts: FaultCounts
):
    count = env_count("LLMOS_FAULT_BUDGET_PROCESSES", 8)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "llmos.toml").write_text(f"[budget]\ntotal_usd = {BUDGET_USD}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOS_") or k == STARTER_SWITCH}
    env.update(LLMOS_WORKSPACE=str(workspace), ANTHROPIC_API_KEY="test")
    answer = Turn(text="A summary.", usage=HONEST_USAGE)
    with FakeLLMServer(fallback=answer, models=(FAKE_MODEL,)) as server:
        runs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "llmos",
                    "run",
                    "--json",
                    "--provider",
                    "anthropic",
                    "--base-url",
                    server.url,
                    "-m",
                    FAKE_MODEL,
                    f"Summarise this text: {chinese(seed)}",
                ],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for seed in range(count)
        ]
        outputs = [run.communicate(timeout=600) for run in runs]
        calls = len(server.model_requests())
    for _, err in outputs:
        assert "Traceback" not in err, err[-2000:]
    assert calls >= 1, "no run made a call: the test proves nothing"
    spent = spent_nano(workspace)
    assert 0 < spent <= BUDGET_USD * 1_000_000_000, f"spent ${spent / 1e9:.4f} of ${BUDGET_USD}"
    refused = sum("BudgetExceeded" in out for out, _ in outputs)
    assert refused >= 1, "the budget never bit: raise the count or lower the budget"
    fault_counts.add("processes", count)
    fault_counts.add("faults_injected", 1)
