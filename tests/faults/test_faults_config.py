"""A malformed ``llmos.toml``: every command exits 2 naming the key, and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from faults_helpers import FaultCounts, llmos_cli

from llmos import LLMOS
from llmos.backends.scripted import ScriptedBackend

GOAL = "Create hello.txt"
SCRIPT = [
    {"tool_calls": [{"name": "Write", "input": {"file_path": "hello.txt", "content": "hi\n"}}]},
    {"text": "done"},
]
#: (case, file text, what the error must name)
BAD_CONFIGS = [
    ("bad_toml", 'mode = "auto\n[tools\n', "llmos.toml"),
    ("unknown_key", "[tools]\nbash_timeot = 5\n", "tools.bash_timeot"),
    ("unknown_section", "[budgett]\ntotal_usd = 1\n", "budgett"),
    ("wrong_type", '[learner]\nmax_turns = "many"\n', "learner.max_turns"),
    ("out_of_range", "[follower]\nfollow_threshold = 7\n", "follower.follow_threshold"),
    ("bad_mode", 'mode = "turbo"\n', "mode"),
    ("not_utf8", b"mode = '\xff'\n", "llmos.toml"),
    ("infinite_budget", "[budget]\ntotal_usd = inf\n", "budget.total_usd"),
    ("nan_price", '[prices."claude-sonnet-4-6"]\ninput = nan\n', "prices.claude-sonnet-4-6.input"),
    ("huge_budget", "[budget]\nper_task_usd = 1e308\n", "budget.per_task_usd"),
    ("infinite_timeout", "[watchdog]\nstall_s = inf\n", "watchdog.stall_s"),
]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under the workspace with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


OTHER_COMMANDS = (("traces", "list"), ("budget", "--json"), ("traces", "match", GOAL))


@pytest.mark.slow
@pytest.mark.parametrize(("case", "text", "key"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
async def test_malformed_config_exits_2_naming_the_key_and_writes_nothing(
    workspace: Path,
    tmp_path: Path,
    fault_counts: FaultCounts,
    case: str,
    text: str | bytes,
    key: str,
):
    async with LLMOS(workspace, backend=ScriptedBackend(SCRIPT)) as llmos:
        assert (await llmos.execute(GOAL)).success
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    config = workspace / "llmos.toml"
    if isinstance(text, bytes):
        config.write_bytes(text)
    else:
        config.write_text(text)
    before = snapshot(workspace)
    other = OTHER_COMMANDS[BAD_CONFIGS.index((case, text, key)) % len(OTHER_COMMANDS)]
    for command in (
        ("run", "--provider", "scripted", "--script", str(script), "Create other.txt"),
        other,
    ):
        done = llmos_cli(*command, workspace=workspace)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert key in done.stderr, (command, done.stderr)
        assert "Traceback" not in done.stderr
    assert snapshot(workspace) == before, "a command with a broken config wrote to the workspace"
    fault_counts.add("config_cases", 1)
    fault_counts.add("faults_injected", 1)
