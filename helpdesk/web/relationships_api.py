"""Loyalty and relationship tasks in the API: a customer's loyalty with its reasons, the
manager's own task list, everyone's for supervisors, and closing a task."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from helpdesk.customers.loyalty_query import loyalty_of
from helpdesk.relationships import tasks
from helpdesk.relationships.models import RelationshipTask, TaskStatus
from helpdesk.tickets.visibility import customer_visible
from helpdesk.web.auth import CurrentAgent, Overseer
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID

router = APIRouter(prefix="/api", tags=["relationships"])


class LoyaltyOut(BaseModel):
    customer_id: int
    loyalty: str
    reasons: list[str]
    window_days: int


class TaskOut(BaseModel):
    id: int
    kind: str
    customer_id: int | None
    account_id: int | None
    manager_id: int | None
    reason: str
    created_at: datetime
    status: str
    closed_at: datetime | None
    closed_by: int | None
    note: str | None


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=2000)


StatusFilter = Annotated[str | None, Query(alias="status", pattern="^(open|done|dismissed)$")]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/customers/{customer_id}/loyalty", response_model=LoyaltyOut)
async def customer_loyalty(
    request: Request, agent: CurrentAgent, customer_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> LoyaltyOut:
    """Loyal, neutral or vulnerable, from the customer's recent ratings and complaints."""
    runtime = runtime_of(request)
    window = runtime.settings.relationships.loyalty_window_days
    async with runtime.db.read() as session:
        if not await customer_visible(session, agent, customer_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such customer")
        found = await loyalty_of(
            session, [customer_id], now=runtime.clock.now(), window_days=window
        )
    verdict = found[customer_id]
    return LoyaltyOut(
        customer_id=customer_id,
        loyalty=verdict.loyalty.value,
        reasons=list(verdict.reasons),
        window_days=window,
    )


@router.get("/me/tasks", response_model=list[TaskOut])
async def my_tasks(
    request: Request, agent: CurrentAgent, state: StatusFilter = "open", limit: Limit = 100
) -> list[TaskOut]:
    """The tasks on my list as a relationship manager, newest first, each with its reason."""
    async with runtime_of(request).db.read() as session:
        rows = await tasks.listed(session, manager_id=agent.id, status=state, limit=limit)
    return [_out(row) for row in rows]


@router.get("/tasks", response_model=list[TaskOut])
async def all_tasks(
    request: Request,
    _overseer: Overseer,
    state: StatusFilter = "open",
    manager_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Limit = 100,
) -> list[TaskOut]:
    """Every manager's tasks (supervisors and admins), or one manager's."""
    async with runtime_of(request).db.read() as session:
        rows = await tasks.listed(session, manager_id=manager_id, status=state, limit=limit)
    return [_out(row) for row in rows]


@router.post("/tasks/{task_id}/done", response_model=TaskOut)
async def task_done(
    request: Request,
    agent: CurrentAgent,
    task_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: CloseIn | None = None,
) -> TaskOut:
    """The manager did it (or a supervisor closes it for them)."""
    return await _close(request, agent, task_id, TaskStatus.DONE, body)


@router.post("/tasks/{task_id}/dismiss", response_model=TaskOut)
async def task_dismissed(
    request: Request,
    agent: CurrentAgent,
    task_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: CloseIn | None = None,
) -> TaskOut:
    """Nothing to do about it; the note says why."""
    return await _close(request, agent, task_id, TaskStatus.DISMISSED, body)


async def _close(
    request: Request, agent: CurrentAgent, task_id: int, to: TaskStatus, body: CloseIn | None
) -> TaskOut:
    runtime = runtime_of(request)
    try:
        async with runtime.db.transaction() as session:
            task = await tasks.close(
                session,
                agent,
                task_id,
                status=to,
                note=body.note if body else None,
                now=runtime.clock.now(),
            )
            return _out(task)
    except tasks.TaskNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such task") from None
    except tasks.TaskError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def _out(row: RelationshipTask) -> TaskOut:
    return TaskOut(
        id=row.id,
        kind=row.kind,
        customer_id=row.customer_id,
        account_id=row.account_id,
        manager_id=row.manager_id,
        reason=row.reason,
        created_at=row.created_at,
        status=row.status,
        closed_at=row.closed_at,
        closed_by=row.closed_by,
        note=row.note,
    )
