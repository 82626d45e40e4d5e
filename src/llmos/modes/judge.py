"""The judge: whether a finished run did what was asked.

A run is a ``success`` only when all of these hold, in this order:

1. the model ended with a final answer (not max turns or tokens, a loop guard,
   a watchdog, a cancellation or an error: those arrive here as ``stopped``);
2. its steps did not fail where it matters: not every step failed, the last
   step did not fail, and no failed action (a write, a command …) was left
   without a later success of the same kind; a heal made at least one
   successful call of its own;
3. the goal's acceptance check (:mod:`llmos.modes.acceptance`) passed.

Where the acceptance check cannot decide, the run is ``unverified``. Pure
apart from reading the working directory; no model call.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from llmos.hooks.trace_capture import RecordedCall
from llmos.modes.acceptance import Action, check, derive
from llmos.outcome import FailureKind, Outcome

#: Tools that only look: their failures are information for the model, not failed work.
LOOKING_TOOLS = frozenset({"Read", "Glob", "Grep", "LS", "WebFetch"})


def action_of(call: RecordedCall) -> Action:
    """A recorded call (the trace hook's view: allowed calls only) as the judge sees it."""
    result = call.result
    return Action(
        tool=call.tool,
        input=dict(call.input),
        ok=not result.is_error,
        exit_code=result.exit_code,
        output=result.content[:4_000],
    )


def judge(
    goal: str,
    *,
    stopped: Outcome | None,
    actions: Sequence[Action],
    cwd: Path,
    answer: str = "",
    own_actions: Sequence[Action] | None = None,
    known_actions: bool = True,
) -> Outcome:
    """The outcome of a finished run of ``goal``.

    ``stopped``: the failed outcome when the model did not end with a final
    answer, else None. ``actions``: every tool call of the run, in order (for a
    heal: the replayed steps, then the heal's). ``own_actions``: for a heal,
    only the calls the Learner made itself. ``known_actions`` False: the calls
    ran elsewhere (an orchestration's subtasks), only the disk is checked.
    """
    if stopped is not None:
        return stopped
    problem = step_failure(actions)
    if problem is not None:
        return problem
    if own_actions is not None and not any(a.ok for a in own_actions):
        return Outcome.failed(
            FailureKind.STEP_FAILED,
            "the heal made no successful tool call: the step that diverged was never redone",
        )
    acceptance = check(derive(goal), cwd, actions if known_actions else None, answer)
    if acceptance.verdict == "failed":
        return Outcome.failed(
            FailureKind.ACCEPTANCE_FAILED, f"the goal's check failed: {acceptance.reason}"
        )
    if acceptance.verdict == "undecided":
        return Outcome.unverified(f"could not be checked: {acceptance.reason}")
    return Outcome.success(f"checked: {acceptance.reason}")


def step_failure(actions: Sequence[Action]) -> Outcome | None:
    """Why the run's steps make it a failure, or None."""
    if not actions:
        return None
    if all(not a.ok for a in actions):
        kind = FailureKind.POLICY if any(a.denied for a in actions) else FailureKind.STEP_FAILED
        return Outcome.failed(
            kind, f"every step of the run failed ({len(actions)}): {_describe(actions[-1])}"
        )
    last = actions[-1]
    if not last.ok:
        return Outcome.failed(_kind(last), f"the run ended on a failed step: {_describe(last)}")
    for index, action in enumerate(actions):
        if action.ok or action.tool in LOOKING_TOOLS:
            continue
        if not any(_redoes(later, action) for later in actions[index + 1 :]):
            return Outcome.failed(
                _kind(action), f"a failed step was never redone: {_describe(action)}"
            )
    return None


def _redoes(later: Action, failed: Action) -> bool:
    """A later successful call that stands in for a failed one (same tool, same target)."""
    if not later.ok or later.tool != failed.tool:
        return False
    target = failed.input.get("file_path")
    # A malformed path (not text) names no file: any later success of the tool stands in.
    return not isinstance(target, str) or later.input.get("file_path") == target


def _kind(action: Action) -> FailureKind:
    return FailureKind.POLICY if action.denied else FailureKind.STEP_FAILED


def _describe(action: Action) -> str:
    what = next(
        (
            str(action.input[k])
            for k in ("file_path", "command", "path", "pattern")
            if isinstance(action.input.get(k), str)
        ),
        "",
    )
    first = action.output.strip().splitlines()[0][:160] if action.output.strip() else ""
    label = f"{action.tool} {' '.join(what.split())[:80]}".strip()
    return f"{label}: {first}" if first else label
