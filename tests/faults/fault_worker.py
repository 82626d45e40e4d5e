"""A worker that learns, follows and charges in one workspace, journaling what committed.

Run as a script by the fault-injection tests. Two commands:

``loop WORKSPACE JOURNAL TAG COUNT BUDGET``
    Runs COUNT rounds: learn a new goal (Learner, priced model, so the ledger
    records charges), then run the same goal again (it should be followed),
    then follow a goal learned by an earlier round or process. Each fact is
    appended to JOURNAL *after* the call that committed it returned, so every
    journal line names something the workspace must still hold.

``zygote WORKSPACE JOURNAL KILLS SEED``
    Imports llmos once, then KILLS times: forks a child that runs ``loop``
    forever and SIGKILLs it after a random delay. Prints one JSON line with the
    number of kills and how many landed while the child was still working (a
    child that ended by itself crashed: its traceback is on stderr).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from llmos import LLMOS
from llmos.backends.base import BackendRequest
from llmos.backends.scripted import FunctionBackend
from llmos.config import load_settings
from llmos.events import Event, UsageUpdated
from llmos.messages import ToolResultMessage

PRICED_MODEL = "claude-sonnet-4-5"
#: Output tokens per model call: small, so reservations are small and a tiny budget admits some.
MAX_TOKENS = 256


class Journal:
    """Append-only JSON lines; one ``write`` per line, so a kill never leaves half of one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def log(self, **fields: Any) -> None:
        os.write(self._fd, (json.dumps(fields) + "\n").encode())


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a journal (a torn last line cannot happen: one write per line)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def pick_goal(rng: random.Random, mine: list[tuple[str, str]], journal: Path) -> tuple[str, str]:
    """The goal to follow next: the one just learned, an older one, or another process's."""
    roll = rng.random()
    if roll < 0.4:
        return mine[-1]
    if roll < 0.7:
        return rng.choice(mine)
    theirs = [
        (line["goal"], line["trace"])
        for line in read_journal(journal)
        if line["kind"] == "learned" and line["ok"]
    ]
    return rng.choice(theirs or mine)


class WriteThenAnswer:
    """The model: write the file the current goal names, then answer."""

    def __init__(self) -> None:
        self.file_name = ""
        self.content = ""

    def __call__(self, request: BackendRequest) -> dict[str, Any]:
        if any(isinstance(message, ToolResultMessage) for message in request.messages):
            return {"text": f"{self.file_name} written."}
        return {
            "tool_calls": [
                {"name": "Write", "input": {"file_path": self.file_name, "content": self.content}}
            ]
        }


async def run_loop(workspace: Path, journal: Journal, tag: str, count: int, budget: float) -> None:
    """Learn, re-run and follow ``count`` rounds (``count`` < 0: until killed)."""
    model = WriteThenAnswer()
    backend = FunctionBackend(model, model=PRICED_MODEL)
    overrides: dict[str, Any] = {"learner.max_tokens": MAX_TOKENS}
    if budget > 0:
        overrides["budget.total_usd"] = budget
    settings = load_settings(workspace=workspace, overrides=overrides)
    llmos = LLMOS(settings=settings, backend=backend)
    charges: dict[str, int] = {}

    def on_event(event: Event) -> None:
        if isinstance(event, UsageUpdated):  # published after the charge's commit returned
            charges[event.task_id] = charges.get(event.task_id, 0) + 1
            journal.log(
                kind="charge", task=event.task_id, n=charges[event.task_id], cost=event.cost_usd
            )

    llmos.subscribe(on_event)
    rng = random.Random(f"{tag}-{os.getpid()}")
    learned: list[tuple[str, str]] = []
    async with llmos:
        round_no = 0
        while count < 0 or round_no < count:
            round_no += 1
            name = f"{tag}_{os.getpid()}_{round_no}.txt"
            model.file_name, model.content = name, f"{tag} round {round_no}\n"
            goal = f"Create the file {name} with its round text"
            result = await llmos.execute(goal, mode="learner")
            journal.log(
                kind="learned",
                task=result.task_id,
                goal=goal,
                ok=result.success,
                trace=result.trace_id,
                cost=result.cost_usd,
                error=result.error_type,
            )
            if not result.success:
                continue
            learned.append((goal, result.trace_id or ""))
            goal, trace_id = pick_goal(rng, learned, journal.path)
            again = await llmos.execute(goal)
            journal.log(
                kind="followed",
                task=again.task_id,
                goal=goal,
                ok=again.success,
                mode=again.mode,
                trace=again.trace_id,
                expected=trace_id,
                saved=again.saved_usd,
            )


def _preload() -> None:
    """Import what a child's learn-and-follow loop uses, once, before forking.

    llmos imports the Learner and each tool where first used; a child that had
    to import them after the fork would spend its short life on imports.
    """
    import llmos.engine.learning  # noqa: F401
    from llmos.tools import builtin_tools

    builtin_tools()


def zygote(workspace: Path, journal_path: Path, kills: int, seed: int) -> None:
    """Fork a looping child and SIGKILL it at a random point, ``kills`` times."""
    rng = random.Random(seed)
    mid_work = 0
    _preload()
    for number in range(kills):
        pid = os.fork()
        if pid == 0:  # the child: work until killed; never return into the zygote's loop
            try:
                asyncio.run(run_loop(workspace, Journal(journal_path), f"k{number}", -1, 0.0))
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(3)
        time.sleep(rng.uniform(0.02, 0.35))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            mid_work += 1
    print(json.dumps({"kills": kills, "killed_mid_work": mid_work}), flush=True)


def main(argv: list[str]) -> int:
    command, workspace, journal = argv[0], Path(argv[1]), Path(argv[2])
    if command == "loop":
        tag, count, budget = argv[3], int(argv[4]), float(argv[5])
        asyncio.run(run_loop(workspace, Journal(journal), tag, count, budget))
    elif command == "zygote":
        zygote(workspace, journal, int(argv[3]), int(argv[4]))
    else:
        print(f"unknown command {command!r}: use loop or zygote", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
