"""Verify: replay a trace in a throwaway copy of the working directory, and say if it holds.

Nothing in the workspace changes except the trace's trust. An untrusted trace
(imported, unsigned) is replayed only inside bubblewrap, with no network, no
llmos state mounted and only the built-in tools.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmos.engine.services import Services
from llmos.memory import Trace
from llmos.modes.acceptance import Action
from llmos.modes.follower import ReplayOutcome, replay
from llmos.modes.judge import judge
from llmos.outcome import Outcome
from llmos.tools import sandbox_status
from llmos.tools.base import Isolation, ToolRegistry
from llmos.workspace import PROJECT_DIR

#: What a verify of an untrusted trace may run: the built-in tools whose reach llmos
#: controls (file tools confined to the copy, Bash inside bubblewrap); no plugin, no network.
UNTRUSTED_VERIFY_TOOLS = ("Read", "Write", "Edit", "Bash", "Glob", "Grep", "LS")
#: At most this many siblings of the working directory get an empty stand-in in the copy.
_DECOYS = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    """Whether a trace still holds, and whether it is trusted after the verify."""

    trace: Trace
    holds: bool
    reason: str
    trusted: bool = True


async def verify(services: Services, trace_id: str) -> VerifyResult:
    """Replay a trace in a throwaway copy of the working directory; report if it holds.

    Nothing in the workspace changes except the trace's trust. A trace
    that is not trusted (imported, unsigned) is replayed only inside
    bubblewrap, with no network, no llmos state mounted and only the
    built-in tools; without bubblewrap it is refused. If it holds it is
    sealed (trusted, followable), unless it was edited after llmos sealed
    it: verify does not vouch for a hand-edited trace, `traces trust` does.
    """
    store = services.library.store_of(trace_id)
    trace = await asyncio.to_thread(store.load, trace_id)
    if trace.status == "failed":
        kind = trace.failure.value if trace.failure else "failed"
        why = f": {trace.verdict}" if trace.verdict else ""
        return VerifyResult(
            trace=trace,
            holds=False,
            reason=f"not replayed: it records a failed run ({kind}){why}",
        )
    trust = store.trust_of(trace)
    if not trust.trusted:
        status = await asyncio.to_thread(sandbox_status)
        if not status.available:
            return VerifyResult(
                trace=trace,
                holds=False,
                trusted=False,
                reason=f"refused: this trace is not trusted ({trust.reason}), and an "
                "untrusted trace is replayed only inside the bubblewrap sandbox: "
                f"{status.reason}",
            )
    with tempfile.TemporaryDirectory(prefix="llmos-verify-") as scratch:
        root = Path(scratch)
        workdir = root / (services.workdir.absolute().name or "output")
        outcome = await _replay_in_copy(services, trace, root, workdir, strict=not trust.trusted)
        checked = None
        if outcome.divergence is None and trace.status == "unverified":
            actions = [
                Action(
                    tool=done.call.name,
                    input=dict(done.call.input),
                    ok=not done.result.is_error,
                    exit_code=done.result.exit_code,
                    output=done.result.content[:4_000],
                )
                for done in outcome.done
            ]
            checked = await asyncio.to_thread(
                judge,
                trace.goal,
                stopped=None,
                actions=actions,
                cwd=workdir,
                answer=trace.final_answer,
            )
    steps = len(trace.steps)
    if outcome.divergence is not None:
        step = outcome.divergence.index + 1
        return VerifyResult(
            trace=trace,
            holds=False,
            trusted=trust.trusted,
            reason=f"step {step}: {outcome.divergence.reason}",
        )
    reason = f"all {steps} steps hold"
    if not trust.trusted:
        if trust.state == "modified":
            return VerifyResult(
                trace=trace,
                holds=True,
                trusted=False,
                reason=f"all {steps} steps hold in the sandbox, but {trust.reason}; verify "
                "does not vouch for an edited trace: review it and run "
                f"`llmos traces trust {trace.id}`",
            )
        trace = await asyncio.to_thread(store.trust, trace.id, as_seen=trace)
        reason = f"all {steps} steps hold in the sandbox; now trusted"
    if checked is not None and checked.ok:
        promoted = Outcome.success(f"verified: {reason}; {checked.message}")
        trace = await asyncio.to_thread(store.set_outcome, trace.id, promoted)
        reason = promoted.message
    elif checked is not None:
        reason += f", but it stays unverified: {checked.message}"
    return VerifyResult(trace=trace, holds=True, reason=reason)


def _without_state(state: Path, *, strict: bool) -> Callable[[str, list[str]], set[str]]:
    """What the copy leaves out: llmos's state folder (the user's folder may hold it),
    and, for an untrusted trace, every ``.llmos`` folder."""
    state_root = os.path.realpath(state)

    def ignore(folder: str, names: list[str]) -> set[str]:
        left_out = {
            name for name in names if os.path.realpath(os.path.join(folder, name)) == state_root
        }
        if strict:
            left_out.update(name for name in names if name == PROJECT_DIR)
        return left_out

    return ignore


async def _replay_in_copy(
    services: Services, trace: Trace, root: Path, workdir: Path, *, strict: bool
) -> ReplayOutcome:
    """Replay ``trace`` in ``workdir``, a copy of the working directory under ``root``.

    ``strict`` (an untrusted trace): the copy leaves out ``.llmos`` folders;
    Bash runs in bubblewrap with no network, the workspace and the real
    working directory hidden, and read-only empty stand-ins for the working
    directory's siblings, so a step that probes its surroundings (``test -d
    ../memory``) finds the same shape as in a real run, and nothing to write.
    """
    real = services.workdir.absolute()
    ignore = _without_state(services.workspace.root, strict=strict)
    if real.is_dir():
        await asyncio.to_thread(shutil.copytree, real, workdir, symlinks=True, ignore=ignore)
    if not strict:
        task = services.task_context(
            f"verify-{trace.id}",
            trace.goal,
            workdir,
            services.hooks,
            services.tools,
            root=root,
            mode="follower",
        )
        return await replay(task, trace.steps)
    await asyncio.to_thread(_decoys, real, root)
    hidden = [services.workspace.root, real]
    if services.project is not None:
        hidden.append(services.project.root)
    limits = services.settings.tools.model_copy(update={"sandbox": True, "sandbox_network": False})
    isolation = Isolation(hidden=tuple(hidden), read_only=(root,))
    tools = ToolRegistry(
        tool
        for tool in services.tools
        if tool.name in UNTRUSTED_VERIFY_TOOLS and tool.source == "built-in"
    )
    task = services.task_context(
        f"verify-{trace.id}",
        trace.goal,
        workdir,
        services.hooks,
        tools,
        root=workdir,
        limits=limits,
        isolation=isolation,
        mode="follower",
    )
    return await replay(task, trace.steps)


def _decoys(real: Path, root: Path) -> None:
    """Empty stand-ins, under ``root``, for the siblings of the working directory ``real``."""
    try:
        siblings = sorted(real.parent.iterdir())[:_DECOYS]
    except OSError:
        return
    for sibling in siblings:
        stand_in = root / sibling.name
        if sibling == real or stand_in.exists():
            continue
        if sibling.is_dir():
            stand_in.mkdir()
        else:
            stand_in.touch()
