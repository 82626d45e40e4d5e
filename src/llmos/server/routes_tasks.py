"""``/tasks``: submit goals, follow them live, cancel them."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from starlette.responses import StreamingResponse

from llmos.projects import ProjectError, Projects
from llmos.server.schemas import CancelView, TaskAccepted, TaskRequest, TaskView
from llmos.server.sse import event_stream, resume_index
from llmos.server.tasks import TaskBoard, TaskRecord

router = APIRouter(prefix="/tasks", tags=["tasks"])


def task_board(request: Request) -> TaskBoard:
    return request.app.state.board


Board = Annotated[TaskBoard, Depends(task_board)]


def _record(board: TaskBoard, task_id: str) -> TaskRecord:
    record = board.get(task_id)
    if record is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no task with id {task_id!r} on this server (finished tasks are kept for a while); "
            "GET /tasks lists them",
        )
    return record


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=TaskAccepted)
async def submit_task(body: TaskRequest, board: Board) -> TaskAccepted:
    """Queue a task; it runs in the background. Follow it at ``/tasks/{id}/events``."""
    if body.project is not None:
        try:
            await asyncio.to_thread(Projects(board.llmos.workspace).get, body.project)
        except ProjectError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    record = await board.submit(
        body.goal, mode=body.mode, project=body.project, budget_usd=body.budget
    )
    return TaskAccepted(task_id=record.task_id, status=record.status)


@router.get("", response_model=list[TaskView])
async def list_tasks(board: Board) -> list[TaskView]:
    """Every task this server knows, newest first."""
    return [TaskView.of(record) for record in board.list()]


@router.get("/{task_id}", response_model=TaskView)
async def get_task(task_id: str, board: Board) -> TaskView:
    """One task: its status, the mode that ran it, its result and cost."""
    return TaskView.of(_record(board, task_id))


@router.get(
    "/{task_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def task_events(
    task_id: str,
    board: Board,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The task's events as server-sent events: those so far, then live, until it ends.

    Each ``data:`` line is the JSON of one event, exactly as ``llmos run --json``
    prints it. Send ``Last-Event-ID`` to resume after an event already seen.
    """
    record = _record(board, task_id)
    return event_stream(record.log, resume_index(last_event_id))


@router.post("/{task_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=CancelView)
async def cancel_task(task_id: str, board: Board) -> CancelView:
    """Cancel a queued or running task; its stream ends with ``task-failed`` (Cancelled)."""
    record = _record(board, task_id)
    if not await board.cancel(task_id):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"task {task_id!r} has already ended ({record.status}); there is nothing to cancel",
        )
    return CancelView(task_id=task_id, cancelled=True, status=record.status)
