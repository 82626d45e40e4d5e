"""Fuzzed trace files in ``memory/traces/``: the CLI keeps working and names each bad file.

A good trace is learned through the CLI; then many damaged variants of a trace
file (truncated anywhere, wrong types in the front matter, huge fields, binary
garbage, invalid UTF-8, empty) are dropped beside it. Each variant carries its
own id and an unrelated goal, so the only thing wrong with it is the damage.
``read_trace`` must either parse a variant or raise ``TraceFormatError``
(nothing else), and ``llmos traces list``, ``traces match`` and ``run`` must
still work, follow the good trace, and report every bad file with its path.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_helpers import FaultCounts, env_count, llmos_cli

from llmos.errors import TraceFormatError
from llmos.memory.trace_format import read_trace

GOAL = "Create hello.txt and show it"
SCRIPT = [
    {"tool_calls": [{"name": "Write", "input": {"file_path": "hello.txt", "content": "hi\n"}}]},
    {"tool_calls": [{"name": "Bash", "input": {"command": "cat hello.txt"}}]},
    {"text": "hello.txt says hi"},
]
#: (pattern in the front matter, replacement): one wrong type each.
WRONG_TYPES = [
    (r"^version: .*$", "version: one"),
    (r"^use_count: .*$", "use_count: many"),
    (r"^cost_usd: .*$", "cost_usd: [1, 2]"),
    (r"^status: .*$", "status: 5"),
    (r"^slots:$", "slots: 7\nold_slots:"),
    (r"^usage:$", "usage: lots\nold_usage:"),
    (r"^goal: .*$", "goal: {a: 1}"),
    (r"^created: .*$", "created: [2026]"),
    (r"^environment:$", "environment: [1]\nold_environment:"),
    (r"^injected: .*$", "injected: {x: 1}"),
    (r"^replay_failures: .*$", "replay_failures: -"),
    (r'"exit_code": 0', '"exit_code": "zero"'),
    (r'"files_written": \{\}', '"files_written": [1]'),
    (r'"command": "cat hello.txt"', '"command": ["cat"]'),
    (r"^---$", "--- !!python/object:os.system"),
]


def variant_text(good: str, case: str) -> str:
    """The good trace under another id and an unrelated goal, so only the damage is wrong."""
    text = re.sub(r"^id: .*$", f"id: {case}", good, count=1, flags=re.M)
    return text.replace(GOAL, f"Unrelated fuzz goal {case}")


def fuzz_cases(good: str, rng: random.Random, count: int) -> Iterator[tuple[str, bytes]]:
    """(file stem, bytes) of ``count`` damaged trace files; the mix cycles through kinds."""
    kinds = ["truncated", "wrong_type", "huge", "binary", "bad_utf8", "empty", "nul"]
    for number in range(count):
        kind = kinds[number % len(kinds)]
        case = f"fuzz-{number:03d}-{kind}"
        text = variant_text(good, case)
        data = text.encode()
        if kind == "truncated":
            data = data[: rng.randrange(1, len(data))]
        elif kind == "wrong_type":
            pattern, replacement = WRONG_TYPES[(number // len(kinds)) % len(WRONG_TYPES)]
            data = re.sub(pattern, replacement, text, count=1, flags=re.M).encode()
        elif kind == "huge":
            field = rng.choice(["goal: ", "model: ", '"content": "'])
            data = text.replace(field, field + "Z" * rng.choice([70_000, 2_000_000]), 1).encode()
        elif kind == "binary":
            data = rng.randbytes(rng.randrange(1, 4096))
        elif kind == "bad_utf8":
            at = rng.randrange(len(data))
            data = data[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"]) + data[at:]
        elif kind == "empty":
            data = rng.choice([b"", b"\n", b"---\n", b"---\n---\n"])
        else:
            at = rng.randrange(len(data))
            data = data[:at] + b"\x00" + data[at:]
        yield case, data


@pytest.fixture
def fuzzed(workspace: Path, tmp_path: Path) -> dict[str, list[Path]]:
    """A workspace holding one learned trace and the fuzzed files; which of them are broken."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    learned = llmos_cli(
        "run",
        "--provider",
        "scripted",
        "--script",
        str(script),
        "-m",
        "claude-sonnet-4-5",
        "--json",
        GOAL,
        workspace=workspace,
    )
    assert learned.returncode == 0, learned.stderr
    folder = workspace / "memory" / "traces"
    (good_file,) = folder.glob("*.md")
    good = good_file.read_text()
    rng = random.Random(env_count("LLMOS_FAULT_SEED", 20261125))
    broken, parsed = [], []
    count = env_count("LLMOS_FAULT_FUZZ", 70)
    for case, data in fuzz_cases(good, rng, count):
        path = folder / f"{case}.md"
        path.write_bytes(data)
        try:
            read_trace(path)
        except TraceFormatError as exc:
            assert str(path) in str(exc), f"the error does not name the file: {exc}"
            broken.append(path)
        else:
            parsed.append(path)
    assert len(broken) > count // 2, "the fuzzer should mostly produce broken files"
    return {"good": [good_file], "broken": broken, "parsed": parsed}


def assert_each_reported_once(stderr: str, broken: list[Path]) -> None:
    for path in broken:
        assert stderr.count(str(path)) == 1, f"{path.name}: {stderr.count(str(path))} times"


@pytest.mark.slow
def test_cli_keeps_working_and_follows_the_good_trace_beside_fuzzed_files(
    workspace: Path, fuzzed: dict[str, list[Path]], fault_counts: FaultCounts
):
    cases = len(fuzzed["broken"]) + len(fuzzed["parsed"])
    fault_counts.add("fuzz_cases", cases)
    fault_counts.add("fuzz_broken", len(fuzzed["broken"]))
    fault_counts.add("faults_injected", cases)
    before = {p: p.read_bytes() for p in workspace.joinpath("memory", "traces").iterdir()}
    (good,) = fuzzed["good"]
    listed = llmos_cli("traces", "list", "--json", workspace=workspace)
    assert listed.returncode == 0, listed.stderr
    ids = {json.loads(line)["id"] for line in listed.stdout.splitlines()}
    assert ids == {good.stem} | {p.stem for p in fuzzed["parsed"]}
    assert_each_reported_once(listed.stderr, fuzzed["broken"])

    matched = llmos_cli("traces", "match", "--json", GOAL, workspace=workspace)
    assert matched.returncode == 0, matched.stderr
    decision = json.loads(matched.stdout)
    assert (decision["decision"], decision["trace_id"]) == ("follow", good.stem)

    (workspace.parent / "hello.txt").unlink()
    ran = llmos_cli("run", "--json", GOAL, workspace=workspace)
    assert ran.returncode == 0, ran.stderr
    last = json.loads(ran.stdout.splitlines()[-1])
    assert (last["kind"], last["mode"], last["trace_id"]) == (
        "task-finished",
        "follower",
        good.stem,
    )
    assert (workspace.parent / "hello.txt").read_text() == "hi\n"
    for output in (listed, matched, ran):
        assert "Traceback" not in output.stderr
    after = {p: p.read_bytes() for p in workspace.joinpath("memory", "traces").iterdir()}
    assert {p: after[p] for p in before if p != good} == {
        p: data for p, data in before.items() if p != good
    }, "a bad file was changed or removed"


@pytest.mark.slow
def test_run_match_and_list_each_name_every_bad_file_once(
    workspace: Path, fuzzed: dict[str, list[Path]]
):
    """A person who only ever types ``llmos run`` is still told which files are skipped."""
    ran = llmos_cli("run", GOAL, workspace=workspace)
    assert ran.returncode == 0, ran.stderr
    assert_each_reported_once(ran.stdout + ran.stderr, fuzzed["broken"])
    matched = llmos_cli("traces", "match", GOAL, workspace=workspace)
    assert_each_reported_once(matched.stdout + matched.stderr, fuzzed["broken"])
    listed = llmos_cli("traces", "list", workspace=workspace)
    assert_each_reported_once(listed.stdout + listed.stderr, fuzzed["broken"])
