"""L4 facts: Markdown files with front matter are the truth; the FTS5 index follows them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmos.errors import ConfigError
from llmos.memory.facts import (
    FactFormatError,
    FactNotFound,
    FactOrigin,
    FactStore,
    parse_fact,
    render_fact,
)

WORKER = Path(__file__).with_name("tiers_facts_worker.py")


@pytest.fixture
def facts(tmp_path: Path) -> FactStore:
    """A fact store whose folder exists, as after its first fact (tests write files by hand)."""
    (tmp_path / "memory" / "facts").mkdir(parents=True)
    return FactStore.for_memory(tmp_path / "memory")


def test_a_fact_is_a_markdown_file_with_front_matter(facts: FactStore) -> None:
    fact = facts.add(
        "  Tests run with `pytest -q`\n---\nnot front matter  ",
        tags=("py", "py", " ci "),
        origin=FactOrigin(task_id="t-1", trace_id="abc"),
    )
    assert re.fullmatch(r"f-[0-9a-f]{8}", fact.id)
    assert fact.text == "Tests run with `pytest -q`\n---\nnot front matter"
    assert fact.tags == ("py", "ci") and fact.source == "user"
    path = facts.root / f"{fact.id}.md"
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f"---\nid: {fact.id}\n")
    assert "task: t-1\ntrace: abc\n---\n\nTests run with" in text
    assert parse_fact(text, path) == fact
    assert render_fact(fact) == text
    assert list(facts.root.glob(".*")) == []  # no temp file left behind


def test_add_search_list_rm(facts: FactStore) -> None:
    pytest_fact = facts.add("The project runs its tests with pytest -q", tags=("python",))
    deploy = facts.add("Deploys go through make deploy on the staging host")
    style = facts.add("Use four spaces for indentation in Python files", tags=("style",))
    hits = facts.search("run the tests")
    assert [h.fact.id for h in hits] == [pytest_fact.id]
    assert hits[0].score > 0
    assert facts.search("the a of") == []  # only stop words: nothing to look for
    listed = facts.list()
    assert {f.id for f in listed} == {pytest_fact.id, deploy.id, style.id}
    assert [f.created for f in listed] == sorted(f.created for f in listed)
    assert facts.get(deploy.id[:5]) == deploy
    assert facts.remove(deploy.id) == deploy
    assert not (facts.root / f"{deploy.id}.md").exists()
    assert facts.search("deploy staging") == []
    assert len(facts.list()) == 2
    missing = f"no fact with id or id prefix {deploy.id!r}"
    with pytest.raises(FactNotFound, match=re.escape(missing)):
        facts.remove(deploy.id)


def test_the_most_relevant_fact_comes_first(facts: FactStore) -> None:
    facts.add("Python files use four spaces")
    facts.add("The calculator in calc.py must use Decimal, never float")
    facts.add("The calculator answers are printed with two decimals")
    hits = facts.search("Create a Python calculator in calc.py using Decimal")
    assert hits[0].fact.text == "The calculator in calc.py must use Decimal, never float"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_matches_word_forms_and_tags(facts: FactStore) -> None:
    fact = facts.add("Deployments need the VPN", tags=("infrastructure",))
    assert [h.fact.id for h in facts.search("deploy")] == []  # different stems stay apart
    assert [h.fact.id for h in facts.search("deployment")] == [fact.id]
    assert [h.fact.id for h in facts.search("infrastructure work")] == [fact.id]


def test_an_empty_fact_is_refused(facts: FactStore) -> None:
    with pytest.raises(ConfigError, match="the fact is empty"):
        facts.add("   \n ")


def test_the_index_is_rebuilt_when_deleted(tmp_path: Path, facts: FactStore) -> None:
    kept = facts.add("Cache keys are prefixed with the tenant id")
    facts.index.close()
    facts.index.path.unlink()
    fresh = FactStore.for_memory(tmp_path / "memory")
    assert [h.fact.id for h in fresh.search("cache keys")] == [kept.id]
    facts.index.path.unlink()  # deleted while a store holds it open
    assert [h.fact.id for h in fresh.search("tenant")] == [kept.id]


def test_a_hand_edited_file_makes_the_index_stale_and_it_catches_up(facts: FactStore) -> None:
    fact = facts.add("The staging database is called orange")
    path = facts.root / f"{fact.id}.md"
    with path.open("r+", encoding="utf-8") as handle:  # edited in place, as an editor may
        text = handle.read().replace("orange", "purple-elephant")
        handle.seek(0)
        handle.write(text)
        handle.truncate()
    assert facts.search("orange") == []
    assert [h.fact.text for h in facts.search("purple")] == [
        "The staging database is called purple-elephant"
    ]
    (facts.root / f"{fact.id}.md").unlink()  # deleted by hand
    assert facts.list() == []


def test_a_fact_file_written_by_hand_is_picked_up(facts: FactStore) -> None:
    (facts.root / "f-0000abcd.md").write_text(
        "---\nid: f-0000abcd\ncreated: 2026-01-02T03:04:05+00:00\nsource: user\ntags: [db]\n---\n"
        "\nBackups run nightly at 02:00\n",
        encoding="utf-8",
    )
    [fact] = facts.list()
    assert (fact.id, fact.created, fact.tags) == (
        "f-0000abcd",
        "2026-01-02T03:04:05+00:00",
        ("db",),
    )
    assert [h.fact.id for h in facts.search("when do backups run")] == ["f-0000abcd"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("no front matter\n", "does not start with a '---' front matter line"),
        ("---\nid: f-0000abcd\nsource: user\n", "has no closing '---'"),
        ("---\nid: [unclosed\n---\ntext\n", "front matter is not valid YAML"),
        ("---\nid: f-0000abcd\nsource: robot\n---\ntext\n", "source 'robot' is not one of"),
        ("---\nid: f-0000abcd\nsource: user\n---\n\n", "has no text"),
        ("---\nid: f-ffffffff\nsource: user\n---\ntext\n", "but is named 'f-0000abcd.md'"),
        ("---\nid: f-0000abcd\ncolour: red\n---\ntext\n", "unknown front matter keys ['colour']"),
    ],
)
def test_a_corrupt_file_is_reported_with_its_path_and_skipped(
    facts: FactStore, content: str, reason: str
) -> None:
    good = facts.add("Logs rotate daily")
    broken = facts.root / "f-0000abcd.md"
    broken.write_text(content, encoding="utf-8")
    assert [f.id for f in facts.list()] == [good.id]
    [problem] = facts.problems()
    assert isinstance(problem, FactFormatError) and problem.path == broken
    assert str(problem).startswith(f"{broken}: ") and reason in str(problem)
    broken.write_text(render_fact(good).replace(good.id, "f-0000abcd"), encoding="utf-8")
    assert facts.problems() == []  # fixed by hand: indexed again
    assert len(facts.list()) == 2


def test_a_file_that_is_not_utf8_is_reported(facts: FactStore) -> None:
    (facts.root / "f-0000abcd.md").write_bytes(b"---\nid: \xff\xfe\n---\n")
    [problem] = facts.problems()
    assert "utf-8" in str(problem) and problem.path == facts.root / "f-0000abcd.md"


def test_reindex_rebuilds_from_the_files(facts: FactStore) -> None:
    facts.add("One")
    facts.add("Two two")
    assert facts.reindex() == 2


def test_two_processes_adding_at_once_lose_nothing(tmp_path: Path) -> None:
    memory = tmp_path / "memory"
    per_process = 30
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(memory), name, str(per_process)],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        for name in ("left", "right")
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
    store = FactStore.for_memory(memory)
    listed = store.list()
    assert len(listed) == 2 * per_process
    assert sorted(f.text for f in listed) == sorted(
        f"{name} fact number {n} about widgets"
        for name in ("left", "right")
        for n in range(per_process)
    )
    assert store.problems() == []
    assert len(list(store.root.glob("*.md"))) == 2 * per_process
    assert list(store.root.glob(".*")) == []
    assert [h.fact.text for h in store.search("right 17 widgets", limit=1)] == [
        "right fact number 17 about widgets"
    ]
