"""The security policy: shell commands and file paths judged by parsing, not matching.

The names load on first use (PEP 562): the shell parser and the command rules
behind :func:`judge_command` cost start-up time that a task with no Bash step
never needs, while file tools only need :mod:`llmos.security.paths`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmos.lazy import load_export

if TYPE_CHECKING:
    from llmos.security.paths import judge_path
    from llmos.security.policy import judge_command
    from llmos.security.verdict import Verdict

__all__ = ["Verdict", "judge_command", "judge_path"]

_HOMES = {
    "Verdict": "llmos.security.verdict",
    "judge_command": "llmos.security.policy",
    "judge_path": "llmos.security.paths",
}


def __getattr__(name: str) -> Any:
    return load_export(__name__, _HOMES, name)
