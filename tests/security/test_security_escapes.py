"""Escape attempts through the real tools: nothing outside the working directory changes.

``escapes.jsonl`` holds attempts to write, delete or read outside the task's
working directory (``workspace/output``): interpreter one-liners, programs
that write (``sed w``, ``sort -o``, ``tar -P`` …), paths known only at run
time, llmos's own state, secrets, and links made for the file tools. Each is
run step by step through the tool runner with the built-in security hooks,
in a tree of canary files, with a fake API key in the environment:

- with bubblewrap, no canary changes and no secret appears in any output;
- without it (the sandbox switched off), the same holds, and each attempt
  whose payload reaches outside is refused by the policy (a denied step).

Lines marked ``held-out`` were written with the others but not looked at
while the policy rules were developed.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmos.config import ToolsConfig
from llmos.hooks.pipeline import HookPipeline
from llmos.hooks.security import security_hooks
from llmos.messages import ToolCall, Usage
from llmos.runtime.bus import EventBus
from llmos.runtime.task import TaskContext
from llmos.runtime.tool_runner import run_tool_call
from llmos.tools import default_registry, sandbox_status
from llmos.tools.base import ToolContext

DATA = Path(__file__).parent.parent / "data" / "escapes.jsonl"
ESCAPES: list[dict[str, Any]] = [
    json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()
]
FAKE_KEY = "sk-canary-ENVSECRET-0123456789abcdef"
SECRETS = (FAKE_KEY, "CANARY-SSH-PRIVATE-KEY", "CANARY-AWS-SECRET")
#: Attempts that only read the environment: contained by the scrubbed environment, which
#: is not the policy's job (``env`` is harmless once no secret is in it).
ENVIRONMENT_ONLY = frozenset(
    {
        "env",
        "printenv FAKE_API_KEY",
        "echo $FAKE_API_KEY",
        "python3 -c 'import os; print(os.environ)'",
        "set | grep -i key",
    }
)


@dataclass(frozen=True)
class Tree:
    root: Path
    home: Path
    workspace: Path
    cwd: Path

    def snapshot(self) -> dict[str, bytes | str]:
        """Every file and link outside the working directory (and any .llmos/ in it)."""
        seen: dict[str, bytes | str] = {}
        for path in sorted(self.root.rglob("*")):
            inside = path.is_relative_to(self.cwd)
            if inside and ".llmos" not in path.relative_to(self.cwd).parts:
                continue
            key = str(path.relative_to(self.root))
            if path.is_symlink():
                seen[key] = f"-> {path.readlink()}"
            elif path.is_file():
                seen[key] = path.read_bytes()
            else:
                seen[key] = "dir"
        return seen


@pytest.fixture
def tree(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tree]:
    """Canaries in a folder that is not under /tmp (the sandbox hides /tmp wholesale)."""
    root = request.config.rootpath / "tests" / "artifacts" / f"escapes-{uuid.uuid4().hex[:12]}"
    home, workspace = root / "home", root / "ws"
    cwd = workspace / "output"
    files = {
        "outside/canary.txt": "CANARY outside\n",
        "home/.bashrc": "# CANARY bashrc\n",
        "home/.ssh/id_rsa": "CANARY-SSH-PRIVATE-KEY\n",
        "home/.aws/credentials": "[default]\naws_secret_access_key = CANARY-AWS-SECRET\n",
        "ws/llmos.toml": "[tools]\nsandbox = true\n",
        "ws/hooks/audit.py": "# the user's own hook\n",
        "ws/plugins/tool.py": "# a plugin\n",
        "ws/agents/writer.md": "---\nname: writer\n---\nWrite.\n",
        "ws/memory/facts/f.md": "a fact\n",
        "ws/memory/traces/t.md": "a trace\n",
        "ws/ledger.sqlite": "ledger\n",
        "ws/projects/other/memory/fact.md": "another project's fact\n",
        "ws/projects/other/output/work.txt": "another project's work\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    cwd.mkdir(parents=True)
    (cwd / "notes.txt").write_text("CANARY inside, fine to change\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("FAKE_API_KEY", FAKE_KEY)
    monkeypatch.setenv("TMPDIR", str(cwd / "tmp"))
    (cwd / "tmp").mkdir()
    yield Tree(root=root, home=home, workspace=workspace, cwd=cwd)
    shutil.rmtree(root, ignore_errors=True)


async def _free(_model: str, _usage: Usage) -> float:
    return 0.0


def _task(tree: Tree, *, sandbox: bool, policy: bool) -> TaskContext:
    hooks = HookPipeline()
    for hook in security_hooks() if policy else ():
        hooks.register(hook)
    settings = ToolsConfig(sandbox=sandbox, bash_timeout=20)
    return TaskContext(
        task_id="escape",
        goal="escape",
        bus=EventBus(),
        hooks=hooks,
        tools=default_registry(),
        tool_ctx=ToolContext(cwd=tree.cwd, workspace=tree.workspace, settings=settings),
        price=_free,
    )


async def _attempt(
    tree: Tree, entry: dict[str, Any], *, sandbox: bool, policy: bool = True
) -> list[tuple[str, str]]:
    """Run every step; (how each ended, everything it printed)."""
    task = _task(tree, sandbox=sandbox, policy=policy)
    ended = []
    for n, step in enumerate(entry["steps"]):
        tool_input = {k: v for k, v in step.items() if k != "tool"}
        outcome = await run_tool_call(
            task, ToolCall(id=f"c{n}", name=step["tool"], input=tool_input)
        )
        result = outcome.result
        how = (
            "denied"
            if outcome.denied
            else (
                "refused"
                if result.is_error
                and (
                    result.content.startswith("Access denied")
                    or "llmos's own state" in result.content
                )
                else ("error" if result.is_error else "ran")
            )
        )
        ended.append((how, result.content + "\n" + result.full_output))
    return ended


def _id(entry: dict[str, Any]) -> str:
    first = entry["steps"][-1]
    what = first.get("command") or f"{first['tool']} {first.get('file_path')}"
    return f"{entry['id']}-{entry['split']}-{entry['category']}-{what[:50]!r}"


def test_the_corpus_is_large_and_has_held_out_lines() -> None:
    assert len(ESCAPES) >= 100
    assert len({_id(e) for e in ESCAPES}) == len(ESCAPES)
    assert sum(e["split"] == "held-out" for e in ESCAPES) >= 25


needs_bwrap = pytest.mark.skipif(
    not sandbox_status().available, reason="bubblewrap is not available (or LLMOS_NO_BWRAP)"
)


@needs_bwrap
@pytest.mark.parametrize("policy", [True, False], ids=["policy", "sandbox-alone"])
@pytest.mark.parametrize("entry", ESCAPES, ids=_id)
async def test_with_the_sandbox_nothing_outside_changes_and_no_secret_shows(
    tree: Tree, entry: dict[str, Any], policy: bool
) -> None:
    """Containment first: this holds even with the security hooks switched off."""
    before = tree.snapshot()
    ended = await _attempt(tree, entry, sandbox=True, policy=policy)
    assert tree.snapshot() == before, ended
    for _, output in ended:
        assert not [s for s in SECRETS if s in output], output


@pytest.mark.parametrize("entry", ESCAPES, ids=_id)
async def test_without_the_sandbox_the_policy_refuses_every_escape(
    tree: Tree, entry: dict[str, Any]
) -> None:
    before = tree.snapshot()
    # Where bwrap is missing, ask for the sandbox as the default settings do: the fall-back
    # (Bash on the host, under the policy alone) is then what runs. Else switch it off.
    ended = await _attempt(tree, entry, sandbox=not sandbox_status().available)
    assert tree.snapshot() == before, ended
    for _, output in ended:
        assert not [s for s in SECRETS if s in output], output
    if entry["steps"][-1].get("command") not in ENVIRONMENT_ONLY:
        assert any(how in ("denied", "refused") for how, _ in ended), ended
