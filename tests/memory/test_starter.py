"""The starter library: every shipped trace replays (its own values and others), is signed,
is refused when tampered with, keeps its counts in the user's state, and can be switched off."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest

from llmos import LLMOS
from llmos.backends.scripted import ScriptedBackend
from llmos.memory.library import TraceLibrary
from llmos.memory.starter import (
    STARTER_TRACES,
    StarterSigner,
    StarterState,
    StarterStore,
    starter_seal,
)
from llmos.memory.store import TraceStore
from llmos.memory.trace_format import read_trace, render_trace
from llmos.runtime.task import TaskResult

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.starter import CASES, Case, Variant, prepare, problems

BY_ID = {case.trace_id: case for case in CASES}


def _shipped() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(STARTER_TRACES.glob("*.md"))}


async def _run(tmp_path: Path, case: Case, variant: Variant, **settings: object) -> TaskResult:
    """``variant``'s goal in a prepared folder, with a backend that fails if it is asked."""
    work = tmp_path / "work"
    prepare(work, variant, case)
    flags = {"library__starter": True, **settings}
    async with LLMOS(tmp_path / "state", backend=ScriptedBackend([]), **flags) as llmos:
        return await llmos.execute(variant.goal, cwd=work)


def test_the_shipped_traces_are_the_recorded_cases_each_signed_by_the_starter_key(
    tmp_path: Path,
) -> None:
    assert 20 <= len(CASES) <= 30
    assert set(_shipped()) == {f"{case.trace_id}.md" for case in CASES}
    signer = StarterSigner(StarterState(tmp_path / "state.json"))
    for path in sorted(STARTER_TRACES.glob("*.md")):
        trace = read_trace(path)
        assert trace.status == "success", path
        assert trace.backend == "scripted" and trace.cost_usd == 0.0
        assert trace.goal == BY_ID[trace.id].recorded.goal
        assert trace.integrity is not None and trace.integrity.hmac.startswith("ed25519:")
        assert signer.check(trace).trusted, path


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_a_starter_trace_replays_with_its_recorded_values(tmp_path: Path, case: Case) -> None:
    before = _shipped()
    result = await _run(tmp_path, case, case.recorded)
    assert (result.mode, result.library, result.trace_id) == ("follower", "starter", case.trace_id)
    assert result.outcome.ok, result.outcome.message
    assert result.cost_usd == 0.0
    work = tmp_path / "work"
    assert problems(work, case.recorded) == []
    # Every file the recording wrote is there; one whose bytes it recorded holds them.
    last: dict[str, str] = {}
    for step in read_trace(STARTER_TRACES / f"{case.trace_id}.md").steps:
        last.update(step.postcondition.files_written)
    for name, digest in last.items():
        data = (work / name).read_bytes()
        assert not digest or hashlib.sha256(data).hexdigest() == digest, name
    assert _shipped() == before  # counted in the user's state, never in the package
    state = StarterState(tmp_path / "state" / "memory" / "starter" / "state.json").read()
    assert state["traces"][case.trace_id]["replay_successes"] == 1


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_a_starter_trace_replays_with_other_values(tmp_path: Path, case: Case) -> None:
    result = await _run(tmp_path, case, case.other)
    assert (result.mode, result.library, result.trace_id) == ("follower", "starter", case.trace_id)
    assert result.outcome.ok, result.outcome.message
    assert problems(tmp_path / "work", case.other) == []


def _tampered_copy(tmp_path: Path, *, resign_digest: bool) -> Path:
    """The starter folder with one trace's written content changed (its digest recomputed and
    signed with another key when ``resign_digest``: a forger without the starter key)."""
    folder = tmp_path / "starter"
    shutil.copytree(STARTER_TRACES, folder)
    path = folder / "starter-file-says.md"
    trace = read_trace(path)
    step = trace.steps[0]
    evil = type(step)(
        tool=step.tool,
        input={**step.input, "content": "rm -rf ~\n"},
        postcondition=step.postcondition,
        output=step.output,
    )
    from dataclasses import replace

    forged = replace(trace, steps=(evil,))
    if resign_digest:
        forged = starter_seal(forged, bytes(32))
    path.write_text(render_trace(forged), encoding="utf-8")
    return folder


@pytest.mark.parametrize("resign", [False, True], ids=["edited", "signed-elsewhere"])
def test_a_tampered_starter_trace_is_refused_with_one_warning(tmp_path: Path, resign: bool) -> None:
    own = TraceStore.for_memory(tmp_path / "ws" / "memory")
    starter = StarterStore(
        tmp_path / "ws" / "memory" / "starter", _tampered_copy(tmp_path, resign_digest=resign)
    )
    library = TraceLibrary([own, starter])
    found = library.match("Create a file hello.txt that says hello")
    assert found.decision != "follow" and found.trace is None
    [untrusted] = found.untrusted
    assert (untrusted.trace_id, untrusted.scope) == ("starter-file-says", "starter")
    assert untrusted.state == ("foreign" if resign else "modified")
    assert untrusted.message().startswith("not using starter trace starter-file-says (")
    assert "`[library] starter = false`" in untrusted.message()
    # The other shipped traces are unaffected.
    assert library.match("Create a folder named reports").decision == "follow"


def test_a_verdict_is_cached_per_digest_so_later_checks_need_no_cryptography(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = read_trace(STARTER_TRACES / "starter-file-says.md")
    state = tmp_path / "state.json"
    assert StarterSigner(StarterState(state)).check(trace).trusted

    def no_verify(*args: object) -> bool:
        raise AssertionError("verified again")

    monkeypatch.setattr("llmos.memory.starter.verify_digest", no_verify)
    assert StarterSigner(StarterState(state)).check(trace).trusted


def test_starter_traces_are_read_only_and_a_rejection_is_kept_in_the_users_state(
    tmp_path: Path,
) -> None:
    before = _shipped()
    own = TraceStore.for_memory(tmp_path / "memory")
    library = TraceLibrary([own, StarterStore(tmp_path / "memory" / "starter")])
    goal = "Create a file hello.txt that says hello"
    assert library.match(goal).decision == "follow"
    library.reject("starter-file-says", "I wanted a greeting card")
    again = library.match(goal)
    assert again.decision != "follow"
    from llmos.errors import ConfigError

    for act in (
        lambda: library.store_of("starter-file-says").delete("starter-file-says"),
        lambda: library.store_of("starter-file-says").trust("starter-file-says"),
    ):
        with pytest.raises(ConfigError, match="read-only"):
            act()
    assert _shipped() == before
    # A fresh state (another user) still follows it.
    other = TraceLibrary([own, StarterStore(tmp_path / "other" / "starter")])
    assert other.match(goal).decision == "follow"


async def test_the_setting_switches_the_starter_library_off(tmp_path: Path) -> None:
    case = BY_ID["starter-file-says"]
    off = tmp_path / "off"
    async with LLMOS(
        off / "state",
        backend=ScriptedBackend([{"text": "no tools"}]),
        library__starter=False,
    ) as llmos:
        assert (await llmos.match(case.other.goal)).decision == "learn"
        assert all(store.scope != "starter" for store in llmos.services.library.stores)
        result = await llmos.execute(case.other.goal, cwd=off / "work")
    assert result.mode == "learner" and result.library is None
    on = await _run(tmp_path / "on", case, case.other)
    assert on.mode == "follower" and on.library == "starter"
