"""The command corpora: every dangerous line refused, every look-alike allowed.

``commands_dev.jsonl`` is the starter set; ``commands_attacks.jsonl`` holds
bypass attempts (obfuscation, wrappers, nesting, interpreters …) and harmless
look-alikes. Each line is judged from two working directories: a project
folder and the workspace's ``output/`` folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos.security import judge_command

DATA = Path(__file__).parent.parent / "data"


def _lines(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


DEV = _lines("commands_dev.jsonl")
ATTACKS = _lines("commands_attacks.jsonl")


def _id(entry: dict[str, str]) -> str:
    return f"{entry['expect']}-{entry['category']}-{entry['cmd'][:60]!r}"


def test_attack_corpus_is_large_and_balanced() -> None:
    denied = [e for e in ATTACKS if e["expect"] == "deny"]
    allowed = [e for e in ATTACKS if e["expect"] == "allow"]
    assert len(ATTACKS) >= 250
    assert len(denied) >= 150 and len(allowed) >= 100
    assert len({e["cmd"] for e in ATTACKS}) == len(ATTACKS), "duplicate lines"
    assert not {e["cmd"] for e in ATTACKS} & {e["cmd"] for e in DEV}, "copies of starter lines"


@pytest.mark.parametrize("where", ["project", "output"])
@pytest.mark.parametrize("entry", DEV + ATTACKS, ids=_id)
def test_corpus_line_gets_its_expected_decision(entry: dict[str, str], where: str, layout) -> None:
    cwd = layout.workspace / where
    verdict = judge_command(entry["cmd"], cwd=cwd, workspace=layout.workspace, home=layout.home)
    assert verdict.decision == entry["expect"], verdict
    if verdict.decision != "allow":
        assert verdict.reason
