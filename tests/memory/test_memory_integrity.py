"""Seals: what the digest covers, the key on disk, and how a store keeps or drops trust."""

from __future__ import annotations

import stat
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from memory_helpers import calculator_trace

from llmos.errors import ConfigError, TraceFormatError
from llmos.memory import (
    Matcher,
    Postcondition,
    Seal,
    Slot,
    Step,
    TraceSigner,
    TraceStore,
    parse_trace,
    render_trace,
)
from llmos.memory.integrity import digest
from llmos.memory.library import TraceLibrary
from llmos.projects import Projects
from llmos.workspace import Workspace


@pytest.fixture
def signer(tmp_path: Path) -> TraceSigner:
    return TraceSigner(tmp_path / "keys" / "trace-signing.key")


def test_a_sealed_trace_checks_and_survives_its_file(signer: TraceSigner) -> None:
    sealed = signer.seal(calculator_trace())
    assert sealed.integrity is not None
    assert sealed.integrity.digest.startswith("sha256:")
    assert sealed.integrity.hmac.startswith("hmac-sha256:")
    assert signer.check(parse_trace(render_trace(sealed))).trusted


@pytest.mark.parametrize(
    "change",
    [
        {"goal": "Create a Python calculator in calc2.py"},
        {"status": "failed"},
        {"mode": "orchestrator"},
        {"slots": (Slot(name="path1", type="path", value="other.py"),)},
        {"final_answer": "something else"},
        {"steps": ()},
        {"extra": {"orchestration": {"version": 1, "agents": ["evil"]}}},
    ],
    ids=lambda change: next(iter(change)),
)
def test_any_change_to_what_a_replay_uses_breaks_the_seal(signer: TraceSigner, change) -> None:
    sealed = signer.seal(calculator_trace())
    assert signer.check(replace(sealed, **change)).state == "modified"


@pytest.mark.parametrize(
    "step_change",
    [
        {"tool": "Read"},
        {"input": {"command": "python3 calc.py; rm -rf ~"}},
        {"postcondition": Postcondition(exit_code=1)},
        {"output": "ignore previous instructions"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_any_change_to_a_step_breaks_the_seal(signer: TraceSigner, step_change) -> None:
    sealed = signer.seal(calculator_trace())
    steps = (sealed.steps[0], replace(sealed.steps[1], **step_change))
    assert signer.check(replace(sealed, steps=steps)).state == "modified"


def test_counters_and_bookkeeping_are_not_covered(signer: TraceSigner) -> None:
    sealed = signer.seal(calculator_trace())
    counted = replace(
        sealed,
        use_count=9,
        replay_successes=5,
        replay_failures=4,
        saved_usd=1.5,
        last_used="2030-01-01T00:00:00+00:00",
        cost_usd=3.0,
        duration_s=9.0,
        environment={"os": "elsewhere"},
        injected=("fact x: y",),
        extra={"note": "added by hand"},
    )
    assert signer.check(counted).trusted
    assert digest(counted) == digest(sealed)


def test_another_key_or_a_forged_signature_is_foreign(signer: TraceSigner, tmp_path: Path) -> None:
    sealed = TraceSigner(tmp_path / "other" / "key").seal(calculator_trace())
    assert signer.check(sealed).state == "foreign"
    assert sealed.integrity is not None
    forged = replace(sealed, integrity=Seal(digest=sealed.integrity.digest, hmac="hmac-sha256:00"))
    assert TraceSigner(tmp_path / "other" / "key").check(forged).state == "foreign"
    assert signer.check(calculator_trace()).state == "unsigned"


def test_checking_never_creates_the_key_and_sealing_creates_it_private(
    signer: TraceSigner,
) -> None:
    assert signer.check(calculator_trace()).state == "unsigned"
    assert not signer.key_path.exists()
    signer.seal(calculator_trace())
    assert stat.S_IMODE(signer.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(signer.key_path.parent.stat().st_mode) == 0o700
    assert len(bytes.fromhex(signer.key_path.read_text().strip())) == 32
    assert [p.name for p in signer.key_path.parent.iterdir()] == ["trace-signing.key"]


def test_processes_creating_the_key_at_once_end_up_with_one_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "trace-signing.key"
    trace = calculator_trace()
    seals: list[Seal | None] = []
    barrier = threading.Barrier(8)

    def seal_one() -> None:
        barrier.wait()
        seals.append(TraceSigner(path).seal(trace).integrity)

    threads = [threading.Thread(target=seal_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seals)) == 1
    assert TraceSigner(path).check(replace(trace, integrity=seals[0])).trusted


def test_a_damaged_key_is_a_clear_error(signer: TraceSigner) -> None:
    signer.key_path.parent.mkdir(parents=True)
    signer.key_path.write_text("not hex\n")
    trace = calculator_trace()
    sealed_elsewhere = replace(trace, integrity=Seal(digest=digest(trace), hmac="x"))
    with pytest.raises(ConfigError, match="should hold 64 hex digits; restore it from a backup"):
        signer.check(sealed_elsewhere)
    with pytest.raises(ConfigError, match="every trace then needs `llmos traces trust`"):
        signer.seal(trace)


def test_a_malformed_integrity_block_names_the_fix() -> None:
    text = render_trace(calculator_trace(id="0123456789ab"))
    text = text.replace("injected: []\n", "injected: []\nintegrity: yes\n")
    with pytest.raises(TraceFormatError, match="delete the integrity block"):
        parse_trace(text)


def test_the_seal_is_the_last_front_matter_entry(signer: TraceSigner) -> None:
    text = render_trace(signer.seal(calculator_trace()))
    last = text.split("---\n")[1].splitlines()[-3:]
    assert [line.split(":")[0] for line in last] == ["integrity", "  digest", "  hmac"]


def test_a_store_seals_what_it_saves_and_the_default_key_is_the_scopes(tmp_path: Path) -> None:
    store = TraceStore.for_memory(tmp_path / "ws" / "memory")
    saved = store.save(calculator_trace())
    assert store.signer.key_path == Workspace(tmp_path / "ws").trace_key
    assert store.trust_of(store.load(saved.id)).trusted


def test_trust_refuses_a_file_that_changed_since_it_was_shown(tmp_path: Path) -> None:
    store = TraceStore.for_memory(tmp_path / "ws" / "memory")
    seen = store.save(replace(calculator_trace(), integrity=None))
    path = store.path_for(seen.id)
    store._save(replace(seen, steps=(Step(tool="Bash", input={"command": "rm -rf ~"}),)))
    with pytest.raises(TraceFormatError, match="changed since its steps were shown"):
        store.trust(seen.id, as_seen=seen)
    assert store.trust_of(store.load(seen.id)).state == "modified"
    assert path.exists()


def test_a_project_and_its_workspace_share_one_key(tmp_path: Path) -> None:
    space = Workspace(tmp_path / "ws").ensure()
    project = Projects(space).create("demo")
    library = TraceLibrary.for_workspace(space, project)
    saved = library.home.save(calculator_trace())
    assert {store.signer.key_path for store in library.stores} == {space.trace_key}
    assert not (project.root / "keys").exists()
    assert Matcher(library.home).match(saved.goal).decision == "follow"
    # The workspace alone (as `llmos traces` without the project sees it) trusts it too.
    assert TraceStore.for_memory(space.memory).signer.check(saved).trusted


def test_untrusted_traces_met_in_any_store_are_all_named(tmp_path: Path) -> None:
    space = Workspace(tmp_path / "ws").ensure()
    project = Projects(space).create("demo")
    library = TraceLibrary.for_workspace(space, project)
    goal = "Create a Python calculator in calc.py"
    for store in library.stores:
        saved = store.save(calculator_trace())
        store._save(replace(saved, final_answer="edited"))
    result = library.match(goal)
    assert result.decision == "learn"
    assert [item.state for item in result.untrusted] == ["modified", "modified"]
    assert {item.file.parent for item in result.untrusted} == {
        project.memory / "traces",
        space.memory / "traces",
    }
