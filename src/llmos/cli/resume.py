"""``llmos resume TASK_ID``: continue an interrupted orchestration from its saved state."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from llmos.api import LLMOS
from llmos.cli.common import (
    JsonOption,
    ModelOption,
    ProjectOption,
    ProviderOption,
    ScriptOption,
    WorkspaceOption,
    settings_for,
    stderr_console,
    stdout_console,
)
from llmos.cli.render import HumanRenderer, JsonRenderer
from llmos.runtime.task import TaskResult


def resume(
    task_id: Annotated[str, typer.Argument(help="The orchestration's task id (t-…).")],
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    script: ScriptOption = None,
    json_output: JsonOption = False,
) -> None:
    """Resume an interrupted orchestration: finished subtasks are skipped."""
    settings = settings_for(
        workspace, project=project, provider=provider, model=model, script=script
    )
    llmos = LLMOS(settings=settings)
    err = stderr_console()  # as in `llmos run`: the answer on stdout, progress on stderr
    llmos.subscribe(
        JsonRenderer() if json_output else HumanRenderer(stdout_console(), err=err, progress=err)
    )
    if asyncio.run(_resume(llmos, task_id)).failed:
        raise typer.Exit(1)


async def _resume(llmos: LLMOS, task_id: str) -> TaskResult:
    async with llmos:
        return await llmos.resume(task_id)
