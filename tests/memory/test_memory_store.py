"""The trace store: atomic files, lookup by id prefix, broken files, the index, sharing."""

from __future__ import annotations

import re
import sqlite3
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from memory_helpers import calculator_trace

from llmos.errors import ConfigError, TraceFormatError, TraceNotFound
from llmos.memory import Matcher, Trace, TraceStore, read_trace


def test_save_writes_one_markdown_file_and_derives_signature_and_slots(store: TraceStore) -> None:
    saved = store.save(calculator_trace())
    path = store.root / f"{saved.id}.md"
    assert read_trace(path) == saved
    assert saved.signature == "create a python calculator in calc.py"
    assert [(s.name, s.type, s.value) for s in saved.slots] == [("path1", "path", "calc.py")]
    assert [p.name for p in store.root.iterdir()] == [path.name]  # no temp file left behind
    assert store.load(saved.id) == saved


def test_load_accepts_a_unique_prefix_and_names_the_candidates_of_an_ambiguous_one(
    store: TraceStore,
) -> None:
    first = store.save(calculator_trace(id="abc111111111"))
    store.save(calculator_trace(id="abc222222222", goal="Create a stopwatch in watch.py"))
    assert store.load("abc1").id == first.id
    with pytest.raises(
        TraceNotFound,
        match=re.escape(
            "the prefix 'abc' matches several traces: abc111111111 (Create a Python calculator "
            "in calc.py), abc222222222 (Create a stopwatch in watch.py); "
            "give more characters of the id"
        ),
    ):
        store.load("abc")
    with pytest.raises(TraceNotFound, match="no trace with id or id prefix 'zzz'"):
        store.load("zzz")


def test_delete_removes_the_file_and_the_index_row(store: TraceStore) -> None:
    saved = store.save(calculator_trace())
    assert store.delete(saved.id[:6]) == saved.id
    assert not (store.root / f"{saved.id}.md").exists()
    assert store.entries() == []
    with pytest.raises(TraceNotFound):
        store.load(saved.id)


def test_broken_files_are_reported_with_their_path_and_skipped(store: TraceStore) -> None:
    good = [store.save(calculator_trace(id=f"{n:012x}")) for n in range(3)]
    text = (store.root / f"{good[0].id}.md").read_text()
    (store.root / "truncated.md").write_text(text[: len(text) // 2])
    (store.root / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
    (store.root / "empty.md").write_text("")
    (store.root / "misnamed.md").write_text(text)
    problems: list[TraceFormatError] = []
    loaded = list(store.iter(on_error=problems.append))
    assert sorted(t.id for t in loaded) == sorted(t.id for t in good)
    reasons = {p.path.name: str(p) for p in problems if p.path}
    assert set(reasons) == {"truncated.md", "binary.md", "empty.md", "misnamed.md"}
    assert "is not UTF-8 text" in reasons["binary.md"]
    assert (
        "trace id '000000000000', which 000000000000.md already holds: it is a copy"
        in (reasons["misnamed.md"])
    )
    assert str(store.root / "truncated.md") in reasons["truncated.md"]
    assert store.reindex().indexed == 3


def test_record_use_counts_replays_and_savings(store: TraceStore) -> None:
    saved = store.save(calculator_trace())
    store.record_use(saved.id, success=True, saved_usd=0.031)
    after = store.record_use(saved.id, success=False)
    assert (after.use_count, after.replay_successes, after.replay_failures) == (2, 1, 1)
    assert after.saved_usd == pytest.approx(0.031)
    assert after.last_used is not None
    entry = store.entries()[0]
    assert (entry.use_count, entry.replay_failures, entry.saved_usd) == (2, 1, pytest.approx(0.031))


def test_a_missing_index_is_rebuilt_from_the_files(store: TraceStore, tmp_path: Path) -> None:
    saved = store.save(calculator_trace())
    store.index.close()
    store.index.path.unlink()
    fresh = TraceStore.for_memory(store.root.parent)
    assert [e.id for e in fresh.entries()] == [saved.id]
    assert Matcher(fresh).match(saved.goal).decision == "follow"


def test_files_added_or_removed_behind_the_index_are_noticed(store: TraceStore) -> None:
    kept = store.save(calculator_trace())
    removed = store.save(calculator_trace(goal="Create a stopwatch in watch.py"))
    other = TraceStore.for_memory(store.root.parent)  # another process's view
    other.entries()
    added = calculator_trace(goal="Create a timer in timer.py")
    from llmos.memory import render_trace

    added = replace(added, signature="x")
    (store.root / f"{added.id}.md").write_text(render_trace(added))  # copied in by hand
    (store.root / f"{removed.id}.md").unlink()
    assert sorted(e.id for e in other.entries()) == sorted([kept.id, added.id])


def test_a_file_edited_in_place_is_reindexed_before_it_is_followed(store: TraceStore) -> None:
    saved = store.save(calculator_trace())
    path = store.root / f"{saved.id}.md"
    text = path.read_text().replace("status: success", "status: failed")
    with path.open("r+") as handle:  # in place: the folder's stamp does not move
        handle.write(text)
        handle.truncate()
    result = Matcher(store).match(saved.goal)
    assert result.decision == "learn"
    assert store.index.get(saved.id).status == "failed"


def test_reindex_rebuilds_rows_that_were_lost(store: TraceStore) -> None:
    saved = store.save(calculator_trace())
    with sqlite3.connect(store.index.path) as conn:
        conn.execute("DELETE FROM traces")
    assert store.reindex().indexed == 1
    assert store.index.get(saved.id) is not None


@pytest.mark.parametrize("archive", ["library.tar.gz", "library"])
def test_export_then_import_marks_traces_untrusted(
    store: TraceStore, tmp_path: Path, archive: str
) -> None:
    learned = store.save(calculator_trace())
    failed = store.save(calculator_trace(goal="Create a stopwatch in watch.py", status="failed"))
    store.record_use(learned.id, success=True, saved_usd=0.5)
    (store.root / "broken.md").write_text("---\nnot a trace")
    assert store.export(tmp_path / archive, on_error=lambda problem: None) == 2

    other = TraceStore.for_memory(tmp_path / "elsewhere" / "memory")
    report = other.import_(tmp_path / archive)
    assert sorted(report.imported) == sorted([learned.id, failed.id])
    imported = other.load(learned.id)
    assert (imported.status, imported.use_count, imported.saved_usd) == ("untrusted", 0, 0.0)
    assert imported.integrity is None  # sealed elsewhere means nothing here
    assert other.trust_of(imported).state == "unsigned"
    assert imported.steps == learned.steps
    assert other.load(failed.id).status == "failed"
    result = Matcher(other).match(learned.goal)
    assert result.decision == "learn"
    assert "imported and not verified" in result.reason

    again = other.import_(tmp_path / archive)
    assert again.imported == []
    assert {name for name, _ in again.skipped} == {f"{learned.id}.md", f"{failed.id}.md"}
    other.set_status(learned.id, "success")  # a status alone does not make it trusted
    assert Matcher(other).match(learned.goal).decision == "learn"
    assert other.trust(learned.id).status == "success"
    assert Matcher(other).match(learned.goal).decision == "follow"


def test_import_reads_archives_without_extracting_unsafe_members(
    store: TraceStore, tmp_path: Path
) -> None:
    archive = tmp_path / "evil.tar.gz"
    outside = tmp_path / "outside.md"
    source = tmp_path / "payload.md"
    source.write_text("---\nnot a trace\n")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="../outside.md")
        tar.add(source, arcname="/abs/evil.md")
    report = store.import_(archive)
    assert report.imported == []
    assert len(report.skipped) == 2
    assert not outside.exists()


def test_failed_runs_are_kept_never_followed_but_offered_as_similar(store: TraceStore) -> None:
    failed = store.save(calculator_trace(status="failed", final_answer="python3 not found"))
    matcher = Matcher(store)
    assert matcher.match(failed.goal).decision == "learn"
    similar = matcher.similar("Create a Python calculator in calc.py with tests")
    assert [s.trace.id for s in similar] == [failed.id]
    assert similar[0].trace.final_answer == "python3 not found"
    assert matcher.similar(failed.goal, include_failed=False) == []


def test_trace_ids_that_are_not_safe_file_names_are_refused(store: TraceStore) -> None:
    with pytest.raises(TraceFormatError, match=re.escape("trace id '../evil' is not")):
        store.save(Trace(id="../evil", goal="x"))


def test_importing_something_that_is_not_an_export_is_a_usage_error(
    store: TraceStore, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    for source in (tmp_path / "notes.txt", tmp_path / "missing.tar.gz"):
        with pytest.raises(
            ConfigError,
            match=re.escape(f"cannot import {source}: it is not a folder or a tar archive"),
        ):
            store.import_(source)


def test_an_index_deleted_while_the_store_holds_it_open_is_made_anew(store: TraceStore) -> None:
    saved = store.save(calculator_trace())
    store.index.connection()  # held open, as a long-running server holds it
    store.index.path.unlink()  # a person removes it to have it rebuilt
    assert [e.id for e in store.entries()] == [saved.id]
    assert store.index.path.exists()
