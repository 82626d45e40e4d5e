"""A call the budget can pay for only with a shorter answer is sent with a lower ``max_tokens``.

Issue 15, point 3: the pre-call check counts the prompt with Anthropic's
``count_tokens`` endpoint, or, when that fails, bounds it by its UTF-8 bytes;
the request's ``max_tokens`` is then lowered so that the prompt plus output
at the cap fits what is left, for every call of the run (the after-run
insights call too). Seen from outside: the fake Anthropic server records the
``max_tokens`` each request carried and the counts it answered.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from llmos.testing.cli import STARTER_SWITCH
from llmos.testing.fake_llm_script import count_prompt_tokens
from llmos.testing.fake_llm_server import FakeLLMServer, FakeUsage, Fault, Turn

MODEL = "claude-sonnet-4-6"  # $3 in, $15 out per million tokens
OUTPUT_USD_PER_TOKEN = 15 / 1_000_000
BUDGET_USD = 0.15
#: A goal whose bytes bound the prompt at ~$0.11, so 4,096 tokens out ($0.06) do not fit.
GOAL = "Summarise this text in one line: " + "lorem ipsum " * 3_000


def run_llmos(
    tmp_path: Path, goal: str, budget_usd: float, *, counts_fail: bool
) -> tuple[list[int], list[int]]:
    """``llmos run`` on the fake Anthropic server: the caps sent and the counts answered."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "llmos.toml").write_text(f"[budget]\ntotal_usd = {budget_usd}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOS_") or k == STARTER_SWITCH}
    env.update(LLMOS_WORKSPACE=str(workspace), ANTHROPIC_API_KEY="test")
    answer = Turn(text="A summary.", usage=FakeUsage(input_tokens=9_000, output_tokens=20))
    with FakeLLMServer(fallback=answer, models=(MODEL,)) as server:
        if counts_fail:
            server.fail_counts(*[Fault.server_error(503)] * 10)
        run = subprocess.run(
            [
                *(sys.executable, "-m", "llmos", "run", "--json", "--provider", "anthropic"),
                *("--base-url", server.url, "-m", MODEL, goal),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        caps = [request.body["max_tokens"] for request in server.model_requests()]
        counts = [count_prompt_tokens(request.body) for request in server.count_requests()]
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert not [e for e in events if "BudgetExceeded" in json.dumps(e)], events[-1]
    assert caps, "no model call was made"
    assert spent_nano(workspace) <= budget_usd * 1_000_000_000
    return caps, counts


def test_max_tokens_is_lowered_to_what_the_byte_bound_leaves_when_counting_fails(
    tmp_path: Path,
) -> None:
    caps, counts = run_llmos(tmp_path, GOAL, BUDGET_USD, counts_fail=True)
    assert counts  # it asked, and fell back to the bytes
    first = caps[0]
    assert 256 <= first < 4096, caps
    # The goal's bytes alone bound the prompt from below, so the cap cannot be above this.
    prompt_bound_usd = len(GOAL.encode()) * 3 / 1_000_000
    assert prompt_bound_usd + first * OUTPUT_USD_PER_TOKEN <= BUDGET_USD, caps


#: 102,000 bytes: at $3/M the byte bound ($0.31) is over the whole budget; the count
#: (a quarter of that) leaves about 2,800 tokens of answer.
LONG_GOAL = "Summarise this text in one line: " + "lorem ipsum " * 8_500
COUNTED_BUDGET_USD = 0.12


def test_max_tokens_is_lowered_to_what_the_counted_prompt_leaves(tmp_path: Path) -> None:
    caps, counts = run_llmos(tmp_path, LONG_GOAL, COUNTED_BUDGET_USD, counts_fail=False)
    first, counted = caps[0], counts[0]
    assert 256 <= first < 4096, caps
    assert counted * 3 / 1_000_000 + first * OUTPUT_USD_PER_TOKEN <= COUNTED_BUDGET_USD
    # By its bytes the call would not have fitted at all: the count is what let it go.
    assert len(LONG_GOAL.encode()) * 3 / 1_000_000 > COUNTED_BUDGET_USD


def spent_nano(workspace: Path) -> int:
    conn = sqlite3.connect(workspace / "ledger.sqlite")
    try:
        return conn.execute("SELECT COALESCE(SUM(nano_usd), 0) FROM charges").fetchone()[0]
    finally:
        conn.close()
