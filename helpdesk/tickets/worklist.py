"""The workspace's queue: the tickets an agent may see, filtered, the soonest due first, with
the counts of each view, in three statements whatever the size of the desk.

"Due" is the earliest running SLA timer of the ticket (`sla_timers.due_at`); tickets without a
running timer come after, most recently active first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Select, case, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Customer
from helpdesk.sla.models import SlaTimer, TimerStatus
from helpdesk.staff.models import Agent
from helpdesk.tickets.models import (
    OPEN_STATUSES,
    Priority,
    Ticket,
    TicketKind,
    TicketStatus,
)
from helpdesk.tickets.visibility import visible_to

View = Literal["mine", "team", "unassigned", "all"]
VIEWS: tuple[View, ...] = ("mine", "team", "unassigned", "all")


@dataclass(frozen=True, slots=True)
class WorkFilter:
    view: View = "all"
    # Empty: the open statuses (new, open, pending).
    statuses: Sequence[TicketStatus] = ()
    channel: str | None = None
    priority: Priority | None = None
    complaints_only: bool = False
    # Only tickets with a running timer due before now + this.
    due_within: timedelta | None = None
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True, slots=True)
class WorkRow:
    number: int
    subject: str
    status: TicketStatus
    priority: Priority
    kind: TicketKind
    channel: str
    customer_name: str
    assignee_id: int | None
    team_id: int | None
    updated_at: datetime
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class WorkPage:
    rows: list[WorkRow]
    # Tickets the filter matches in the chosen view (all pages).
    total: int
    # The same filter in each view: what the tabs show.
    counts: dict[str, int] = field(default_factory=dict)

    def pages(self, per_page: int) -> int:
        return max(1, -(-self.total // per_page))


def _due() -> Select[int, datetime | None]:
    return (
        select(SlaTimer.ticket_id, func.min(SlaTimer.due_at).label("due_at"))
        .where(SlaTimer.status == TimerStatus.RUNNING, SlaTimer.due_at.is_not(None))
        .group_by(SlaTimer.ticket_id)
    )


def _view_condition(agent: Agent, view: View) -> ColumnElement[bool]:
    if view == "mine":
        return Ticket.assignee_id == agent.id
    if view == "team":
        team_ids = [team.id for team in agent.teams]
        return Ticket.team_id.in_(team_ids) if team_ids else false()
    if view == "unassigned":
        return Ticket.assignee_id.is_(None)
    return Ticket.id.is_not(None)


async def worklist(
    session: AsyncSession, agent: Agent, filters: WorkFilter, *, now: datetime
) -> WorkPage:
    due = _due().subquery("due")
    conditions: list[ColumnElement[bool]] = [
        visible_to(agent),
        Ticket.status.in_(filters.statuses or OPEN_STATUSES),
        Ticket.merged_into_id.is_(None),
    ]
    if filters.channel:
        conditions.append(Ticket.channel == filters.channel)
    if filters.priority is not None:
        conditions.append(Ticket.priority == filters.priority)
    if filters.complaints_only:
        conditions.append(Ticket.kind == TicketKind.COMPLAINT)
    needs_due = filters.due_within is not None
    if filters.due_within is not None:
        conditions.append(due.c.due_at < now + filters.due_within)

    counted = select(
        *(func.coalesce(func.sum(case((_view_condition(agent, v), 1), else_=0)), 0) for v in VIEWS)
    ).select_from(Ticket)
    if needs_due:
        counted = counted.join(due, due.c.ticket_id == Ticket.id)
    counts_row = (await session.execute(counted.where(*conditions))).one()
    counts: dict[str, int] = {v: int(n) for v, n in zip(VIEWS, counts_row, strict=True)}

    page = max(1, filters.page)
    rows = await session.execute(
        select(
            Ticket.id,
            Ticket.subject,
            Ticket.status,
            Ticket.priority,
            Ticket.kind,
            Ticket.channel,
            Customer.name,
            Ticket.assignee_id,
            Ticket.team_id,
            Ticket.updated_at,
            due.c.due_at,
        )
        .join(Customer, Customer.id == Ticket.customer_id)
        .join(due, due.c.ticket_id == Ticket.id, isouter=not needs_due)
        .where(*conditions, _view_condition(agent, filters.view))
        .order_by(
            case((due.c.due_at.is_(None), 1), else_=0),
            due.c.due_at,
            Ticket.updated_at.desc(),
            Ticket.id.desc(),
        )
        .limit(filters.per_page)
        .offset((page - 1) * filters.per_page)
    )
    found = [WorkRow(*row) for row in rows]
    return WorkPage(found, counts[filters.view], counts)


def due_soon(due_at: datetime | None, now: datetime, within: timedelta) -> bool:
    return due_at is not None and _aware(due_at) < now + within


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; storage is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
