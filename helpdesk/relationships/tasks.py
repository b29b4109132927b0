"""The tasks on managers' lists: added once per subject and kind while open, listed, closed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.relationships.models import RelationshipTask, TaskStatus
from helpdesk.staff.models import Agent
from helpdesk.staff.permissions import sees_all

OPEN_ONLY = text("status = 'open'")


class TaskError(ValueError):
    """The task cannot be closed by this agent, or is closed already; the message says why."""


class TaskNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Found:
    """A signal the scan found: who it is about, whose list it goes on, and why."""

    subject: str
    kind: str
    reason: str
    manager_id: int
    customer_id: int | None = None
    account_id: int | None = None


def customer_subject(customer_id: int) -> str:
    return f"customer:{customer_id}"


def account_subject(account_id: int) -> str:
    return f"account:{account_id}"


async def put(session: AsyncSession, found: Sequence[Found], *, now: datetime) -> None:
    """Add each as an open task, or refresh the reason and manager of the one already open:
    the partial unique index decides, so concurrent scans add each task once."""
    if not found:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [
        {
            "subject": f.subject,
            "kind": f.kind,
            "customer_id": f.customer_id,
            "account_id": f.account_id,
            "manager_id": f.manager_id,
            "reason": f.reason,
            "created_at": now,
            "status": TaskStatus.OPEN.value,
        }
        for f in found
    ]
    statement = insert(RelationshipTask)
    statement = statement.on_conflict_do_update(
        index_elements=["subject", "kind"],
        index_where=OPEN_ONLY,
        set_={"reason": statement.excluded.reason, "manager_id": statement.excluded.manager_id},
    )
    await session.execute(statement, rows)


async def last_closed(
    session: AsyncSession, kinds: Sequence[str]
) -> dict[tuple[str, str], datetime]:
    """When the latest task of each subject and kind was closed: evidence before it is done."""
    rows = await session.execute(
        select(
            RelationshipTask.subject, RelationshipTask.kind, func.max(RelationshipTask.closed_at)
        )
        .where(RelationshipTask.kind.in_(kinds), RelationshipTask.closed_at.is_not(None))
        .group_by(RelationshipTask.subject, RelationshipTask.kind)
    )
    return {(subject, kind): at for subject, kind, at in rows if at is not None}


async def closed_since(session: AsyncSession, moment: datetime) -> set[tuple[str, str]]:
    """The subjects and kinds of tasks closed at or after `moment` (during a scan)."""
    rows = await session.execute(
        select(RelationshipTask.subject, RelationshipTask.kind).where(
            RelationshipTask.closed_at >= moment
        )
    )
    return {(subject, kind) for subject, kind in rows}


async def listed(
    session: AsyncSession, *, manager_id: int | None, status: str | None, limit: int
) -> list[RelationshipTask]:
    """Newest first; one manager's, or everyone's when `manager_id` is None."""
    query = select(RelationshipTask).order_by(RelationshipTask.id.desc()).limit(limit)
    if manager_id is not None:
        query = query.where(RelationshipTask.manager_id == manager_id)
    if status is not None:
        query = query.where(RelationshipTask.status == status)
    return list(await session.scalars(query))


async def close(
    session: AsyncSession,
    agent: Agent,
    task_id: int,
    *,
    status: TaskStatus,
    note: str | None,
    now: datetime,
) -> RelationshipTask:
    """Done or dismissed, by its manager or a supervisor; anyone else is answered as if the
    task did not exist."""
    task = await session.get(RelationshipTask, task_id, with_for_update=True)
    if task is None or not (task.manager_id == agent.id or sees_all(agent)):
        raise TaskNotFound(task_id)
    if task.status != TaskStatus.OPEN.value:
        raise TaskError(f"the task is {task.status} already")
    task.status = status.value
    task.closed_at = now
    task.closed_by = agent.id
    task.note = note
    return task
