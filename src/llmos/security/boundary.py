"""The one place that knows which paths are llmos's own state, out of every task's reach.

Nothing a task writes may change how llmos behaves later. So the workspace
(``llmos.toml``, hooks, plugins, agents, memory, the index, the ledger, the
signing keys, orchestration state, every project) is state, except the
task's own working directory; and any ``.llmos/`` folder (project settings,
found by searching upward like ``.git``) is state wherever it is, even inside
the working directory, even before it exists.

The rule is "the deepest root wins": a path under the working directory is
the task's unless a state root deeper than the working directory holds it
(a workspace inside the user's folder, a ``.llmos/`` folder). The file tools,
the security policy and the sandbox all ask this module, so the three agree.

Example:
    >>> b = StateBoundary.of(workspace=Path("/w"), workdir=Path("/w/output"))
    >>> b.is_state("/w/hooks/pwn.py"), b.is_state("/w/output/calc.py")
    (True, False)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from llmos.workspace import PROJECT_DIR

#: What a workspace root holds. Only used when the working directory *is* the
#: workspace root (then the root cannot be state as a whole).
WORKSPACE_ENTRIES = (
    "llmos.toml",
    "hooks",
    "plugins",
    "agents",
    "memory",
    "ledger.sqlite",
    "ledger.sqlite-wal",
    "ledger.sqlite-shm",
    "keys",
    "state",
    "projects",
    PROJECT_DIR,
)
#: State that is also a secret: not even readable by a task.
SECRET_ENTRIES = ("keys",)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass(frozen=True, slots=True)
class StateBoundary:
    """Which resolved paths are llmos state for one task.

    ``workdir`` and every root are real paths (symlinks resolved), so callers
    must resolve a path before asking about it.
    """

    workdir: str
    workspace: str
    roots: tuple[str, ...]

    @classmethod
    def of(cls, *, workspace: Path, workdir: Path) -> StateBoundary:
        """The boundary of a task working in ``workdir`` for ``workspace``."""
        ws = os.path.realpath(workspace)
        wd = os.path.realpath(workdir)
        # The whole workspace, unless the task works in its root (then each entry).
        roots = [os.path.join(ws, name) for name in WORKSPACE_ENTRIES] if wd == ws else [ws]
        # Project settings in and above the working directory (the task could
        # create one in its own folder, so it is state before it exists).
        folder = wd
        while True:
            roots.append(os.path.join(folder, PROJECT_DIR))
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        return cls(workdir=wd, workspace=ws, roots=tuple(dict.fromkeys(roots)))

    def state_root(self, path: str) -> str | None:
        """The state root that holds the resolved ``path``, or None if it is not state."""
        if PROJECT_DIR in path.split("/"):
            parts = path.split("/")
            return "/".join(parts[: parts.index(PROJECT_DIR) + 1])
        holding = [root for root in self.roots if _under(path, root)]
        if not holding:
            return None
        deepest = max(holding, key=len)
        if _under(path, self.workdir) and len(self.workdir) > len(deepest):
            return None  # the task's own folder, nested in the workspace
        return deepest

    def is_state(self, path: str) -> bool:
        """Whether the resolved, absolute ``path`` is llmos state (never writable by a task)."""
        return self.state_root(path) is not None

    def is_secret(self, path: str) -> bool:
        """State that must not even be read (the trace-signing keys)."""
        return any(_under(path, os.path.join(self.workspace, name)) for name in SECRET_ENTRIES)

    def entries_in(self, folder: str) -> list[str]:
        """Names of state roots directly inside ``folder`` (for globs such as ``rm -rf *``)."""
        names = []
        for root in self.roots:
            parent, name = os.path.split(root)
            if parent == folder and (name != PROJECT_DIR or os.path.lexists(root)):
                names.append(name)
        return sorted(names)

    def entries_below(self, folder: str) -> list[str]:
        """State roots that exist strictly inside ``folder`` (then deleting it reaches them)."""
        return [r for r in self.roots if r != folder and _under(r, folder) and os.path.lexists(r)]

    def hidden_in_sandbox(self) -> list[str]:
        """The state roots that exist and must not be visible in the sandbox."""
        return [root for root in self.roots if os.path.lexists(root)]
