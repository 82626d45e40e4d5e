"""Bash: run a shell command in the working directory, like Claude Code's Bash tool."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from pydantic import Field

from llmos.security.boundary import PROJECT_DIR
from llmos.text import ESCAPED_NOTE, escape_surrogates, has_surrogates
from llmos.tools._fs import TreeSnapshot, changed_files, hidden_state, snapshot_tree
from llmos.tools._process import ProcessOutcome, run_process
from llmos.tools._schema import ToolInput
from llmos.tools._text import decode_text, text_result
from llmos.tools.base import Tool, ToolContext, ToolError, ToolResult
from llmos.tools.environment import build_environment
from llmos.tools.sandbox import bash_argv

MAX_TIMEOUT_MS = 600_000
# Pagers and credential prompts would wait for a keyboard that is not there.
QUIET_ENVIRONMENT = {"PAGER": "cat", "GIT_PAGER": "cat", "GIT_TERMINAL_PROMPT": "0"}


class BashInput(ToolInput):
    command: str = Field(description="The bash command to run.")
    timeout: float | None = Field(
        default=None,
        gt=0,
        le=MAX_TIMEOUT_MS,
        description="Time limit in milliseconds (at most 600000). The configured limit "
        "(tools.bash_timeout, 120 s by default) applies when it is lower or this is omitted.",
    )
    description: str | None = Field(
        default=None,
        description="What the command does, in 5 to 10 words, for the person watching "
        "(for example 'Run the unit tests').",
    )


class BashTool(Tool):
    name = "Bash"
    description = (
        "Runs a bash command (`bash -c`) in the working directory and returns its stdout, its "
        "stderr (after a `[stderr]` line) and its exit code when it is not 0. Each call starts "
        "a fresh shell: `cd` and variables do not carry over. stdin is empty, so interactive "
        "commands fail; background processes are stopped when the command returns. The "
        "command is killed, with all its children, when it runs out of time. Where bubblewrap "
        "is installed it runs in a sandbox: only the working directory is writable, /tmp is "
        "private and the network is off unless the configuration allows it. Secret-looking "
        "environment variables (API keys, tokens, passwords) are not passed. Prefer Read, "
        "Write, Edit, Glob, Grep and LS for files."
    )
    Input = BashInput

    async def run(self, args: BashInput, ctx: ToolContext) -> ToolResult:
        limit_s = ctx.settings.bash_timeout
        timeout_s = limit_s if args.timeout is None else min(args.timeout / 1000, limit_s)
        cwd, argv, before = await asyncio.to_thread(_prepare, args.command, ctx)
        had_settings = await asyncio.to_thread(os.path.lexists, cwd / PROJECT_DIR)
        outcome = await run_process(
            argv,
            cwd=cwd,
            env={**build_environment(ctx.settings.env).variables, **QUIET_ENVIRONMENT},
            timeout_s=timeout_s,
            keep_bytes=ctx.settings.trace_output_chars,
        )
        hidden = hidden_state(ctx)
        after = await asyncio.to_thread(snapshot_tree, cwd, hidden=hidden)
        undone = await asyncio.to_thread(_undo_project_settings, cwd, had_settings, before, after)
        if undone:
            after = await asyncio.to_thread(snapshot_tree, cwd, hidden=hidden)
        written = await asyncio.to_thread(changed_files, cwd, before, after)
        body, notes = _report(outcome, timeout_s)
        if undone:
            notes += (
                f"\n[{PROJECT_DIR}/ is llmos's project settings, which a command may not create: "
                "it was removed]"
            )
        return text_result(
            body,
            ctx.settings,
            footer=notes,
            is_error=outcome.timed_out or outcome.exit_code != 0 or undone,
            exit_code=outcome.exit_code,
            files_written=written,
        )


def _prepare(command: str, ctx: ToolContext) -> tuple[Path, list[str], TreeSnapshot]:
    """The blocking part before the run: check the folder, build the argv, snapshot."""
    cwd = ctx.cwd.resolve()
    if not cwd.is_dir():
        raise ToolError(f"The working directory {cwd} does not exist.")
    return cwd, bash_argv(command, ctx), snapshot_tree(cwd, hidden=hidden_state(ctx))


def _undo_project_settings(cwd: Path, had: bool, before: TreeSnapshot, after: TreeSnapshot) -> bool:
    """Remove ``.llmos/`` folders the command created in the working directory.

    Inside the sandbox the working directory is writable, so an absent
    ``.llmos/`` cannot be masked; a later run would read it as project
    settings. Nothing of the command is still running (its process group is
    gone), so removing it now closes the gap. Returns True if it removed any.
    """
    made: set[Path] = set()
    if not had and os.path.lexists(cwd / PROJECT_DIR):
        made.add(cwd / PROJECT_DIR)
    for relative in after.stats.keys() - before.stats.keys():  # sub/.llmos/…, deeper ones
        parts = relative.split("/")
        if PROJECT_DIR in parts[:-1]:
            made.add(cwd.joinpath(*parts[: parts.index(PROJECT_DIR) + 1]))
    for path in made:
        if path.is_symlink() or not path.is_dir():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
    return bool(made)


def _report(outcome: ProcessOutcome, timeout_s: float) -> tuple[str, str]:
    """stdout, then stderr under a marker; and notes on how the command ended."""
    stdout = decode_text(outcome.stdout)
    stderr = decode_text(outcome.stderr)
    parts: list[str] = [stdout.rstrip("\n")] if stdout else []
    if stderr:
        parts.append("[stderr]\n" + stderr.rstrip("\n"))
    notes: list[str] = []
    if outcome.dropped_bytes:
        notes.append(f"[{outcome.dropped_bytes:,} more bytes of output were not kept]")
    body = "\n".join(parts)
    if has_surrogates(body):
        body = escape_surrogates(body)
        notes.append(f"[the output is {ESCAPED_NOTE}]")
    if outcome.timed_out:
        notes.append(
            f"[timed out after {timeout_s:g} s: the command and its child processes were "
            "killed; raise the timeout parameter or make the command faster]"
        )
    elif outcome.exit_code != 0:
        notes.append(f"[exit code {outcome.exit_code}]")
    if not notes:
        return body or "(no output)", ""
    return body, ("\n" if body else "") + "\n".join(notes)
