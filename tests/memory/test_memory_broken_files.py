"""Broken trace files through ``llmos traces``: removable, listed by verify, named sanely.

A file that does not parse is still a file of the library: ``rm`` removes it
without reading it, ``verify`` lists it as failing (exit 1) instead of skipping
it, and a copy of a trace under another name is called a copy, not something
to rename onto the original.
"""

from __future__ import annotations

import json

from memory_helpers import calculator_trace
from typer.testing import CliRunner

from llmos.cli.app import app
from llmos.memory import TraceStore

BROKEN = "---\nid: [\n---\n"


def traces(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, ["traces", *args], input=stdin)


def test_rm_removes_a_broken_file_by_name_or_prefix(store: TraceStore) -> None:
    kept = store.save(calculator_trace())
    (store.root / "broken-one.md").write_text(BROKEN)
    (store.root / "zz-broken.md").write_text(BROKEN)

    asked = traces("rm", "broken-one", stdin="n\n")
    assert asked.exit_code == 1, asked.output
    assert "broken trace file" in asked.output and (store.root / "broken-one.md").exists()

    by_name = traces("rm", "--yes", "broken-one")
    assert by_name.exit_code == 0, by_name.output
    by_prefix = traces("rm", "--yes", "zz")
    assert by_prefix.exit_code == 0, by_prefix.output
    assert sorted(p.name for p in store.root.iterdir()) == [f"{kept.id}.md"]
    listed = traces("list")
    assert "skipped" not in listed.stderr


def test_verify_lists_a_broken_file_as_failing(store: TraceStore) -> None:
    (store.root / "broken-one.md").write_text(BROKEN)
    result = traces("verify", "--json")
    assert result.exit_code == 1, result.output
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (row["file"], row["holds"]) == ("broken-one.md", False)
    assert row["reason"]

    human = traces("verify")
    assert human.exit_code == 1
    assert "broken" in human.stdout and "broken-one.md" in human.stdout


def test_a_copy_of_a_trace_is_called_a_copy_and_removing_it_keeps_the_original(
    store: TraceStore,
) -> None:
    original = store.save(calculator_trace())
    path = store.root / f"{original.id}.md"
    copy = store.root / "copy-of-it.md"
    text = path.read_bytes()
    copy.write_bytes(text)

    listed = traces("list")
    flat = " ".join(listed.stderr.split())
    assert "it is a copy" in flat and "llmos traces rm copy-of-it" in flat
    assert "rename it to" not in flat

    removed = traces("rm", "--yes", "copy-of-it")
    assert removed.exit_code == 0, removed.output
    assert path.read_bytes() == text and not copy.exists()
    assert store.load(original.id).goal == original.goal


def test_a_misnamed_trace_without_a_copy_is_told_to_be_renamed(store: TraceStore) -> None:
    original = store.save(calculator_trace())
    path = store.root / f"{original.id}.md"
    path.rename(store.root / "misnamed.md")
    flat = " ".join(traces("list").stderr.split())
    assert f"rename it to {original.id}.md" in flat
