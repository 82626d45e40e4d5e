"""Tool inputs as a trace keeps them: paths relative to the working directory.

A trace learned in one folder must replay in another, so an absolute path that
lies inside the folder the task worked in (models often write them) is kept
relative to it: ``/home/ann/site/index.html`` learned in ``/home/ann/site``
becomes ``index.html``. Only path fields and shell command lines are changed;
the content a step writes is kept exactly as it was.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Input fields that name one path (the file tools' and plugins' usual names).
PATH_FIELDS = frozenset({"file_path", "path", "notebook_path"})
#: Input fields that hold a shell command line.
COMMAND_FIELDS = frozenset({"command"})
#: What may follow a folder's path inside a longer path name (then it is another folder).
_NAME_CHAR = r"[^\s/'\"`;&|()<>$]"


def portable_input(tool_input: Mapping[str, Any], cwd: Path) -> dict[str, Any]:
    """``tool_input`` with absolute paths inside ``cwd`` made relative to it."""
    roots = sorted({str(cwd.absolute()), os.path.realpath(cwd)}, key=len, reverse=True)
    out = dict(tool_input)
    for key, value in tool_input.items():
        if not isinstance(value, str):
            continue
        if key in PATH_FIELDS:
            out[key] = _relative_path(value, roots)
        elif key in COMMAND_FIELDS:
            out[key] = _relative_command(value, roots)
    return out


def _relative_path(value: str, roots: list[str]) -> str:
    for root in roots:
        if value == root or value == root + "/":
            return "."
        if value.startswith(root + "/"):
            return value[len(root) + 1 :] or "."
    return value


def _relative_command(command: str, roots: list[str]) -> str:
    for root in roots:
        if root == "/":
            continue
        pattern = re.compile(re.escape(root) + rf"(/)?(?!{_NAME_CHAR})")
        command = pattern.sub(lambda m: "./" if m.group(1) else ".", command)
    return command
