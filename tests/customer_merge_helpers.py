"""Shared steps of the customer merge tests: a customer with something in every table that
belongs to a customer, counts of every table, and who owns which row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from helpdesk.channels.telegram.models import TelegramLinkCode
from helpdesk.customers.models import Customer, Identity, TierChange
from helpdesk.customers.references import MOVED
from helpdesk.messages import InboundMessage
from helpdesk.routing.managers import set_managers
from helpdesk.runtime import Runtime
from helpdesk.staff.models import Agent, Team
from helpdesk.storage.base import Base
from helpdesk.tickets.models import ComplaintResolution, Ticket

# The event log's own bookkeeping moves as reactions run; it is not customer data.
BOOKKEEPING = {"events", "reaction_checkpoints", "reaction_failures", "alembic_version"}


def email(
    sender: str, n: int, text: str = "Where is my parcel?", **extra: object
) -> InboundMessage:
    return InboundMessage(
        channel="email",
        external_id=f"<{sender}-{n}@mail.test>",
        sender=sender,
        sender_name="Ann Smith",
        text=text,
        subject=f"Parcel {n}",
        continues_latest=False,
        **extra,  # type: ignore[arg-type]
    )


def chat(visitor: str, n: int, text: str = "Hello?") -> InboundMessage:
    return InboundMessage(
        channel="webchat", external_id=f"{visitor}:{n}", sender=visitor, text=text
    )


@dataclass
class Pair:
    source: int
    target: int
    source_tickets: list[int]
    target_tickets: list[int]


async def agent_named(runtime: Runtime, email_address: str) -> int:
    async with runtime.db.read() as session:
        found = await session.scalar(select(Agent.id).where(Agent.email == email_address))
    assert found is not None
    return found


async def rich_pair(runtime: Runtime, *, target_manager: bool = False) -> Pair:
    """Ann by email (the source: two tickets, a rating, a complaint remedy, a manager, a tier
    change, a pending Telegram link code, an unverified phone) and Ann in the web chat (the
    target: one ticket)."""
    first = await runtime.intake.receive(email("ann@customer.test", 1))
    second = await runtime.intake.receive(email("ann@customer.test", 2, "It is late again"))
    await runtime.intake.receive(email("ann@customer.test", 3, ticket_hint=second.ticket_id))
    chatted = await runtime.intake.receive(chat("visitor-ann", 1))
    await runtime.intake.receive(chat("visitor-ann", 2, "Anyone there?"))
    source, target = first.customer_id, chatted.customer_id
    now = runtime.clock.now()
    alice = await agent_named(runtime, "alice@example.test")
    async with runtime.db.transaction() as session:
        await session.execute(
            update(Ticket).where(Ticket.id == first.ticket_id).values(satisfaction=2)
        )
        session.add(
            ComplaintResolution(
                ticket_id=second.ticket_id,
                root_cause="delay in fixing",
                remedy="refunded the shipping",
                resolved_at=now,
            )
        )
        session.add(
            TierChange(
                customer_id=source, from_tier="standard", to_tier="key", reason="value", at=now
            )
        )
        session.add(
            TelegramLinkCode(
                code_hash="a" * 64,
                customer_id=source,
                created_at=now,
                expires_at=now + timedelta(minutes=30),
            )
        )
        session.add(
            Identity(
                customer_id=source,
                channel="phone",
                address="5550100",
                verified=False,
                created_at=now,
            )
        )
        await session.execute(
            update(Customer)
            .where(Customer.id == source)
            .values(phone="555 0100", external_ref="CRM-1", value=1200.0, language="en")
        )
        await set_managers(
            session, source, manager_id=alice, backup_id=None, key_account=True, now=now
        )
        if target_manager:
            bob = await agent_named(runtime, "bob@example.test")
            await set_managers(
                session, target, manager_id=bob, backup_id=None, key_account=False, now=now
            )
    await runtime.events.idle()
    return Pair(source, target, [first.ticket_id, second.ticket_id], [chatted.ticket_id])


async def place_tickets(runtime: Runtime, tickets: list[int], team: str) -> None:
    """Give the tickets to a team, nobody assigned: only that team's agents see them."""
    async with runtime.db.transaction() as session:
        team_id = await session.scalar(select(Team.id).where(Team.name == team))
        await session.execute(
            update(Ticket).where(Ticket.id.in_(tickets)).values(team_id=team_id, assignee_id=None)
        )


async def table_counts(runtime: Runtime) -> dict[str, int]:
    """Rows in every table of the schema (the event log's bookkeeping aside)."""
    counts = {}
    async with runtime.db.read() as session:
        for table in Base.metadata.sorted_tables:
            if table.name not in BOOKKEEPING:
                counts[table.name] = (
                    await session.scalar(select(func.count()).select_from(table)) or 0
                )
    return counts


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before if after[name] != before[name]}


async def owners(runtime: Runtime) -> dict[str, dict[int, int]]:
    """For every table that belongs to customers: each row's key and its customer."""
    found: dict[str, dict[int, int]] = {}
    async with runtime.db.read() as session:
        for reference in MOVED:
            clause = reference.clause()
            rows = await session.execute(
                select(clause.c[reference.key], clause.c[reference.column])
            )
            found[reference.table] = {key: owner for key, owner in rows if owner is not None}
    return found


async def customer_row(runtime: Runtime, customer_id: int) -> dict[str, object] | None:
    async with runtime.db.read() as session:
        row = (
            (await session.execute(select(Customer.__table__).where(Customer.id == customer_id)))
            .mappings()
            .first()
        )
    return dict(row) if row is not None else None
