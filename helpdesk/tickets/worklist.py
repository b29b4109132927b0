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

from sqlalchemy import ColumnElement, case, exists, false, func, select
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


def _running(due_before: datetime | None = None) -> list[ColumnElement[bool]]:
    conditions = [SlaTimer.status == TimerStatus.RUNNING, SlaTimer.due_at.is_not(None)]
    if due_before is not None:
        conditions.append(SlaTimer.due_at < due_before)
    return conditions


def _view_condition(agent: Agent, view: View) -> ColumnElement[bool]:
    if view == "mine":
        return Ticket.assignee_id == agent.id
    if view == "team":
        team_ids = [team.id for team in agent.teams]
        return Ticket.team_id.in_(team_ids) if team_ids else false()
    if view == "unassigned":
        return Ticket.assignee_id.is_(None)
    return Ticket.id.is_not(None)


_COLUMNS = (
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
)
# A ticket has a few running timers at most (first response, next response, resolution):
# reading this many timer rows per ticket wanted is nearly always enough.
TIMERS_PER_TICKET = 4


async def worklist(
    session: AsyncSession, agent: Agent, filters: WorkFilter, *, now: datetime
) -> WorkPage:
    """The page of the queue and the counts of every view.

    The order is read from the timers' side: running timers in due order (the index
    `ix_sla_timers_status_due_at`) joined to the tickets the filter takes, so the database stops
    after the first page's tickets instead of grouping every timer of the desk; a ticket's first
    timer in that order is its soonest. Tickets without a running timer follow."""
    due_before = now + filters.due_within if filters.due_within is not None else None
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
    timed = exists().where(SlaTimer.ticket_id == Ticket.id, *_running(due_before)).correlate(Ticket)
    counted = select(
        *(func.coalesce(func.sum(case((_view_condition(agent, v), 1), else_=0)), 0) for v in VIEWS)
    ).where(*conditions, *([timed] if due_before is not None else []))
    counts_row = (await session.execute(counted)).one()
    counts: dict[str, int] = {v: int(n) for v, n in zip(VIEWS, counts_row, strict=True)}

    chosen = [*conditions, _view_condition(agent, filters.view)]
    start = (max(1, filters.page) - 1) * filters.per_page
    wanted = start + filters.per_page
    by_due = await _by_due(session, chosen, due_before, wanted)
    rows = by_due[start:wanted]
    if len(rows) < filters.per_page and due_before is None:
        # Past the timed tickets: those without a running timer, most recently active first.
        untimed = await session.execute(
            select(*_COLUMNS)
            .join(Customer, Customer.id == Ticket.customer_id)
            .where(*chosen, ~timed)
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
            .limit(filters.per_page - len(rows))
            .offset(max(0, start - len(by_due)))
        )
        # (mypy miscounts the columns of a select over a tuple of them.)
        rows += [WorkRow(*row, None) for row in untimed]  # type: ignore[call-arg]
    return WorkPage(rows, counts[filters.view], counts)


async def _by_due(
    session: AsyncSession,
    conditions: list[ColumnElement[bool]],
    due_before: datetime | None,
    wanted: int,
) -> list[WorkRow]:
    """The first `wanted` tickets with a running timer, soonest due first (all of them if
    fewer)."""
    limit = wanted * TIMERS_PER_TICKET + TIMERS_PER_TICKET
    query = (
        select(*_COLUMNS, SlaTimer.due_at)
        .select_from(SlaTimer)
        .join(Ticket, Ticket.id == SlaTimer.ticket_id)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(*_running(due_before), *conditions)
        .order_by(SlaTimer.due_at, SlaTimer.ticket_id)
    )
    timers = (await session.execute(query.limit(limit))).all()
    if len(timers) == limit and len({row[0] for row in timers}) < wanted:
        # Tickets with unusually many timers: read them all (still one statement).
        timers = (await session.execute(query)).all()
    found: dict[int, WorkRow] = {}
    for row in timers:
        if row[0] not in found:
            found[row[0]] = WorkRow(*row)
            if len(found) == wanted:
                break
    return list(found.values())


def due_soon(due_at: datetime | None, now: datetime, within: timedelta) -> bool:
    return due_at is not None and _aware(due_at) < now + within


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; storage is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
