"""A customer's whole picture, as one agent may see it: who they are (identities, account,
tier, relationship manager), every ticket on every channel the agent may see, the satisfaction
they gave, their complaints with root causes, and their consent. Reads only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.consent import ConsentState, consent_history, current
from helpdesk.customers.models import Account, Customer, Identity
from helpdesk.routing.managers import relationships_for
from helpdesk.staff.models import Agent
from helpdesk.staff.permissions import sees_all
from helpdesk.tickets.models import ComplaintResolution, Ticket, TicketKind
from helpdesk.tickets.visibility import customer_visible, visible_to


@dataclass(frozen=True, slots=True)
class TicketLine:
    id: int
    subject: str
    channel: str
    status: str
    kind: str
    priority: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    satisfaction: int | None
    satisfaction_at: datetime | None
    merged_into_id: int | None


@dataclass(frozen=True, slots=True)
class Complaint:
    ticket_id: int
    subject: str
    status: str
    opened_at: datetime
    # None while the complaint is not resolved yet.
    root_cause: str | None = None
    remedy: str | None = None
    resolved_at: datetime | None = None
    follow_up_answer: str | None = None


@dataclass(frozen=True, slots=True)
class Satisfaction:
    ratings: int
    average: float | None
    # The share of 4 and 5 among the ratings (the satisfied customers' share).
    satisfied_share: float | None


@dataclass(frozen=True, slots=True)
class Picture:
    customer: Customer
    identities: list[Identity]
    account: Account | None
    tier: str | None
    key_account: bool
    manager: Agent | None
    backup: Agent | None
    tickets: list[TicketLine]
    satisfaction: Satisfaction
    complaints: list[Complaint]
    consent: dict[str, ConsentState] = field(default_factory=dict)


async def picture(
    session: AsyncSession, agent: Agent, customer_id: int, *, key_tier: str
) -> Picture | None:
    """None when there is no such customer or the agent may not see them (told apart by
    nobody, so that an id outside the agent's sight reveals nothing)."""
    if not await customer_visible(session, agent, customer_id):
        return None
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return None
    identities = list(
        await session.scalars(
            select(Identity).where(Identity.customer_id == customer_id).order_by(Identity.id)
        )
    )
    account = await session.get(Account, customer.account_id) if customer.account_id else None
    relationship = (await relationships_for(session, [customer_id], key_tier=key_tier)).get(
        customer_id
    )
    manager_ids = (
        [i for i in (relationship.manager_id, relationship.backup_id) if i] if relationship else []
    )
    agents = {
        a.id: a for a in await session.scalars(select(Agent).where(Agent.id.in_(manager_ids)))
    }
    tickets = await _tickets(session, agent, customer_id)
    return Picture(
        customer=customer,
        identities=identities,
        account=account,
        tier=relationship.tier if relationship else customer.tier,
        key_account=bool(relationship and relationship.key_account),
        manager=agents.get(relationship.manager_id or 0) if relationship else None,
        backup=agents.get(relationship.backup_id or 0) if relationship else None,
        tickets=tickets,
        satisfaction=_satisfaction(tickets),
        complaints=await _complaints(session, tickets),
        consent=current(await consent_history(session, customer_id)),
    )


async def _tickets(session: AsyncSession, agent: Agent, customer_id: int) -> list[TicketLine]:
    rows = await session.scalars(
        select(Ticket)
        .where(Ticket.customer_id == customer_id, visible_to(agent))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
    )
    return [
        TicketLine(
            id=t.id,
            subject=t.subject,
            channel=t.channel,
            status=t.status.value,
            kind=t.kind.value,
            priority=t.priority.value,
            created_at=t.created_at,
            updated_at=t.updated_at,
            resolved_at=t.resolved_at,
            closed_at=t.closed_at,
            satisfaction=t.satisfaction,
            satisfaction_at=t.satisfaction_at,
            merged_into_id=t.merged_into_id,
        )
        for t in rows
    ]


def _satisfaction(tickets: list[TicketLine]) -> Satisfaction:
    scores = [t.satisfaction for t in tickets if t.satisfaction is not None]
    if not scores:
        return Satisfaction(0, None, None)
    return Satisfaction(
        len(scores),
        round(sum(scores) / len(scores), 2),
        round(sum(1 for s in scores if s >= 4) / len(scores), 3),
    )


async def _complaints(session: AsyncSession, tickets: list[TicketLine]) -> list[Complaint]:
    complaints = [t for t in tickets if t.kind == TicketKind.COMPLAINT.value]
    if not complaints:
        return []
    resolutions: dict[int, ComplaintResolution] = {}
    for row in await session.scalars(
        select(ComplaintResolution)
        .where(ComplaintResolution.ticket_id.in_([t.id for t in complaints]))
        .order_by(ComplaintResolution.id)
    ):
        resolutions[row.ticket_id] = row  # the latest resolution of a reopened complaint
    out = []
    for t in complaints:
        r = resolutions.get(t.id)
        out.append(
            Complaint(
                ticket_id=t.id,
                subject=t.subject,
                status=t.status,
                opened_at=t.created_at,
                root_cause=r.root_cause if r else None,
                remedy=r.remedy if r else None,
                resolved_at=r.resolved_at if r else None,
                follow_up_answer=r.follow_up_answer if r else None,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Found:
    customers: list[Customer]
    total: int


async def search(
    session: AsyncSession, agent: Agent, query: str, *, limit: int, offset: int
) -> Found:
    """Customers whose name, email, phone or any identity's address or display name contains
    `query` (any case), among those the agent may see; newest first."""
    conditions: list[ColumnElement[bool]] = []
    needle = query.strip().lower()
    if needle:
        pattern = f"%{_escape(needle)}%"
        by_identity = exists().where(
            Identity.customer_id == Customer.id,
            or_(
                func.lower(Identity.address).like(pattern, escape="\\"),
                func.lower(Identity.display_name).like(pattern, escape="\\"),
            ),
        )
        conditions.append(
            or_(
                func.lower(Customer.name).like(pattern, escape="\\"),
                func.lower(Customer.email).like(pattern, escape="\\"),
                func.lower(Customer.phone).like(pattern, escape="\\"),
                by_identity,
            )
        )
    if not sees_all(agent):
        conditions.append(exists().where(Ticket.customer_id == Customer.id, visible_to(agent)))
    total = await session.scalar(select(func.count()).select_from(Customer).where(*conditions))
    rows = await session.scalars(
        select(Customer).where(*conditions).order_by(Customer.id.desc()).limit(limit).offset(offset)
    )
    return Found(list(rows), total or 0)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
