"""Finding the signals: a few statements over the window's complaints, low ratings, reopenings
and key accounts' last contacts, then the pure rules (`rules.py`), then the tasks (`tasks.py`).
A customer with no relationship manager gets no task: there is no list to put it on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Account, Customer
from helpdesk.relationships import rules
from helpdesk.relationships.models import TaskKind
from helpdesk.relationships.rules import Occurrence
from helpdesk.relationships.settings import RelationshipSettings
from helpdesk.relationships.tasks import Found, account_subject, customer_subject, last_closed, put
from helpdesk.routing.managers import relationships_for
from helpdesk.routing.models import CustomerManager
from helpdesk.tickets.models import AuditEntry, Direction, Message, Ticket, TicketKind

REOPENED = "ticket.reopened"
Rule = Callable[[Sequence[Occurrence], RelationshipSettings], str | None]


class SignalScan:
    def __init__(self, settings: RelationshipSettings, *, key_tier: str) -> None:
        self._settings = settings
        self._key_tier = key_tier

    async def customers(
        self, session: AsyncSession, *, now: datetime, customer_ids: Iterable[int] | None = None
    ) -> list[Found]:
        """Complaints, low satisfaction and reopenings: for the given customers (an event's),
        or for everyone with evidence in the window (the schedule)."""
        s = self._settings
        ids = None if customer_ids is None else sorted(set(customer_ids))
        queries: list[tuple[TaskKind, Rule, Select[*tuple[Any, ...]]]] = [
            (
                TaskKind.COMPLAINTS,
                rules.complaints,
                select(Ticket.customer_id, Ticket.id, Ticket.created_at, Ticket.satisfaction).where(
                    Ticket.kind == TicketKind.COMPLAINT,
                    Ticket.created_at >= now - timedelta(days=s.complaints_window_days),
                ),
            ),
            (
                TaskKind.LOW_SATISFACTION,
                rules.low_satisfaction,
                select(
                    Ticket.customer_id, Ticket.id, Ticket.satisfaction_at, Ticket.satisfaction
                ).where(
                    Ticket.satisfaction <= s.low_rating,
                    Ticket.satisfaction_at >= now - timedelta(days=s.low_rating_window_days),
                ),
            ),
            (
                TaskKind.REOPENS,
                rules.reopens,
                select(Ticket.customer_id, Ticket.id, AuditEntry.at, Ticket.satisfaction)
                .join(AuditEntry, AuditEntry.ticket_id == Ticket.id)
                .where(
                    AuditEntry.action == REOPENED,
                    AuditEntry.at >= now - timedelta(days=s.reopens_window_days),
                ),
            ),
        ]
        closed = await last_closed(session, [kind.value for kind, _, _ in queries])
        reasons: dict[int, list[tuple[TaskKind, str]]] = defaultdict(list)
        for kind, rule, query in queries:
            if ids is not None:
                query = query.where(Ticket.customer_id.in_(ids))
            found: dict[int, list[Occurrence]] = defaultdict(list)
            for row in await session.execute(query):
                customer_id, ticket_id, at, score = row[0], row[1], row[2], row[3]
                done = closed.get((customer_subject(customer_id), kind.value))
                if done is None or at > done:
                    found[customer_id].append(Occurrence(ticket_id, at, score))
            for customer_id, occurrences in found.items():
                reason = rule(occurrences, s)
                if reason is not None:
                    reasons[customer_id].append((kind, reason))
        managers = await relationships_for(session, reasons, key_tier=self._key_tier)
        return [
            Found(customer_subject(customer_id), kind.value, reason, manager, customer_id)
            for customer_id, found_reasons in reasons.items()
            if (manager := managers[customer_id].manager_id) is not None
            for kind, reason in found_reasons
        ]

    async def key_accounts(self, session: AsyncSession, *, now: datetime) -> list[Found]:
        """Key accounts (and key customers of no account) nobody wrote to or heard from in
        `no_contact_days`. The contacts of an account count together."""
        key = self._key_tier
        closed = await last_closed(session, [TaskKind.NO_CONTACT.value])
        found: list[Found] = []
        accounts = await session.execute(
            select(Account.id, Account.manager_id, Account.created_at).where(
                func.coalesce(Account.tier_override, Account.tier) == key,
                Account.manager_id.is_not(None),
            )
        )
        account_rows = list(accounts)
        last = await _last_contacts(session, Customer.account_id, [a.id for a in account_rows])
        for account_id, manager_id, created_at in account_rows:
            assert manager_id is not None  # selected so
            subject = account_subject(account_id)
            contact = _later(last.get(account_id), closed.get((subject, TaskKind.NO_CONTACT)))
            reason = rules.no_contact(contact, created_at, now, self._settings)
            if reason is not None:
                found.append(
                    Found(subject, TaskKind.NO_CONTACT, reason, manager_id, account_id=account_id)
                )
        flagged = select(CustomerManager.customer_id).where(CustomerManager.key_account)
        customers = list(
            await session.execute(
                select(Customer.id, Customer.created_at).where(
                    Customer.account_id.is_(None),
                    or_(
                        func.coalesce(Customer.tier_override, Customer.tier) == key,
                        Customer.id.in_(flagged),
                    ),
                )
            )
        )
        managers = await relationships_for(session, [c.id for c in customers], key_tier=key)
        last = await _last_contacts(session, Customer.id, [c.id for c in customers])
        for customer_id, created_at in customers:
            manager_id = managers[customer_id].manager_id
            if manager_id is None:
                continue
            subject = customer_subject(customer_id)
            contact = _later(last.get(customer_id), closed.get((subject, TaskKind.NO_CONTACT)))
            reason = rules.no_contact(contact, created_at, now, self._settings)
            if reason is not None:
                found.append(Found(subject, TaskKind.NO_CONTACT, reason, manager_id, customer_id))
        return found

    async def find(
        self, session: AsyncSession, *, now: datetime, customer_ids: Iterable[int] | None = None
    ) -> list[Found]:
        """What the signals say; the whole desk (with key accounts) when no ids are given."""
        found = await self.customers(session, now=now, customer_ids=customer_ids)
        if customer_ids is None:
            found += await self.key_accounts(session, now=now)
        return found

    async def run(
        self, session: AsyncSession, *, now: datetime, customer_ids: Iterable[int] | None = None
    ) -> list[Found]:
        """Find and put the tasks in one transaction (a reaction's, for one customer)."""
        found = await self.find(session, now=now, customer_ids=customer_ids)
        await put(session, found, now=now)
        return found


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((t for t in (a, b) if t is not None), default=None)


async def _last_contacts(
    session: AsyncSession, group: object, ids: Sequence[int]
) -> dict[int, datetime]:
    """The latest message either way (not an internal note) per customer or per account."""
    if not ids:
        return {}
    column = Customer.account_id if group is Customer.account_id else Customer.id
    rows = await session.execute(
        select(column, func.max(Message.created_at))
        .join(Ticket, Ticket.id == Message.ticket_id)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(column.in_(ids), Message.direction != Direction.NOTE)
        .group_by(column)
    )
    return {group_id: at for group_id, at in rows if group_id is not None and at is not None}
