"""The built-in security hooks: every Bash command and file path is judged first.

Two ``PreToolUse`` hooks, both fail-closed (a crash denies): one judges the
Bash ``command`` with :func:`~llmos.security.judge_command` in the task's
working directory, one judges the path of the file tools with
:func:`~llmos.security.judge_path`. Replayed traces pass the same hooks with
``HookContext.replay=True``, and are judged the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import llmos.security as policy  # judge_command, the shell parser, loads on the first Bash check
from llmos.hooks.inputs import PreToolUseInput
from llmos.hooks.pipeline import Ask, Deny, Hook
from llmos.security import Verdict, judge_path

#: File tool → (input field holding the path, what the tool does with it).
FILE_TOOLS: Mapping[str, tuple[str, Literal["read", "write"]]] = {
    "Read": ("file_path", "read"),
    "Write": ("file_path", "write"),
    "Edit": ("file_path", "write"),
    "MultiEdit": ("file_path", "write"),
    "NotebookEdit": ("notebook_path", "write"),
    "Glob": ("path", "read"),
    "Grep": ("path", "read"),
    "LS": ("path", "read"),
}


def _decision(verdict: Verdict) -> Deny | Ask | None:
    if verdict.decision == "allow":
        return None
    where = f" [{verdict.command}]" if verdict.command else ""
    reason = f"security policy: {verdict.reason}{where}"
    return Deny(reason) if verdict.decision == "deny" else Ask(reason)


def security_hooks(*, home: Path | None = None) -> list[Hook[PreToolUseInput]]:
    """The Bash and file-tool hooks; register them first.

    Each call is judged against its own task's working directory and workspace
    (``PreToolUseInput.ctx``), so one pipeline serves every task and every project.

    Example:
        >>> pipeline = HookPipeline()
        >>> for hook in security_hooks():
        ...     pipeline.register(hook)

    Both are ``async def`` with no await inside: they run on the event loop
    with no hop to a worker thread (which a plain hook takes, and which would
    cost each tool call more than the judging does; parses are cached).
    """

    async def bash(data: PreToolUseInput) -> Deny | Ask | None:
        command = data.tool_input.get("command")
        if not isinstance(command, str):
            return Deny(f"security policy: Bash needs a string 'command', got {command!r}")
        return _decision(
            policy.judge_command(command, cwd=data.ctx.cwd, workspace=data.ctx.workspace, home=home)
        )

    async def files(data: PreToolUseInput) -> Deny | Ask | None:
        spec = FILE_TOOLS.get(data.tool)
        if spec is None:
            return None  # the matcher only sends file tools; nothing else is judged here
        field, op = spec
        path = data.tool_input.get(field)
        if path is None and data.tool in ("Glob", "Grep", "LS"):
            path = str(data.ctx.cwd)  # these default to the working directory
        if not isinstance(path, str):
            return Deny(f"security policy: {data.tool} needs a string {field!r}, got {path!r}")
        verdict = judge_path(
            data.tool, path, op=op, cwd=data.ctx.cwd, workspace=data.ctx.workspace, home=home
        )
        return _decision(verdict)

    return [
        Hook(name="security-bash", event="PreToolUse", fn=bash, matcher="Bash", fail_closed=True),
        Hook(
            name="security-files",
            event="PreToolUse",
            fn=files,
            matcher="|".join(FILE_TOOLS),
            fail_closed=True,
        ),
    ]
