"""``llmos resume TASK_ID``: continue an interrupted orchestration from its saved state.

The lead registers it with ``app.command("resume")(resume)``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from llmos.api import LLMOS
from llmos.cli.common import JsonOption, WorkspaceOption, settings_for, stdout_console
from llmos.cli.projects import ProjectOption
from llmos.cli.render import HumanRenderer, JsonRenderer
from llmos.modes.orchestrator import OrchestrationResult, resume_orchestration
from llmos.modes.orchestrator_wiring import DispatcherSubtasks, orchestrator_context
from llmos.projects import Projects


def resume(
    task_id: Annotated[str, typer.Argument(help="The orchestration's task id (t-…).")],
    workspace: WorkspaceOption = None,
    project: ProjectOption = None,
    provider: Annotated[str | None, typer.Option("--provider", "-p")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    script: Annotated[Path | None, typer.Option("--script")] = None,
    json_output: JsonOption = False,
) -> None:
    """Resume an interrupted orchestration: finished subtasks are skipped."""
    settings = settings_for(
        workspace, provider=provider, model=model, script=script.absolute() if script else None
    )
    llmos = LLMOS(settings=settings)
    llmos.subscribe(JsonRenderer() if json_output else HumanRenderer(stdout_console()))
    result = asyncio.run(_resume(llmos, task_id, project))
    if json_output:
        print(json.dumps(_result_json(result), ensure_ascii=False))
    else:
        console = stdout_console()
        console.print(escape(result.text))
        status = "done" if result.success else f"failed: {result.error}"
        console.print(f"[dim]{result.task_id} · {status} · ${result.cost_usd:.4f}[/]")
    if not result.success:
        raise typer.Exit(1)


async def _resume(llmos: LLMOS, task_id: str, project_name: str | None) -> OrchestrationResult:
    async with llmos:
        project = Projects(llmos.workspace).resolve(project_name)
        ctx = orchestrator_context(llmos.dispatcher, project=project)
        try:
            return await resume_orchestration(task_id, ctx=ctx)
        finally:
            if isinstance(ctx.run_subtask, DispatcherSubtasks):
                await ctx.run_subtask.aclose()


def _result_json(result: OrchestrationResult) -> dict[str, object]:
    return {
        "kind": "orchestration-result",
        "task_id": result.task_id,
        "success": result.success,
        "text": result.text,
        "cost_usd": result.cost_usd,
        "trace_id": result.trace_id,
        "error": result.error,
        "subtasks": [
            {"id": s.id, "agent": s.agent, "status": s.status, "error": s.error}
            for s in result.subtasks
        ],
    }
