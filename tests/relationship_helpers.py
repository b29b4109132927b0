"""Customers, accounts and tickets put straight into the database for the loyalty and
relationship-signal tests, at the times the test chooses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Account, Customer
from helpdesk.staff.models import Agent
from helpdesk.tickets.models import AuthorType, Direction, Message, Ticket, TicketKind, TicketStatus


async def agent_id(session: AsyncSession, email: str) -> int:
    found = await session.scalar(select(Agent.id).where(Agent.email == email))
    assert found is not None
    return found


async def add_customer(
    session: AsyncSession, name: str, *, now: datetime, account_id: int | None = None
) -> int:
    customer = Customer(name=name, created_at=now, account_id=account_id)
    session.add(customer)
    await session.flush()
    return customer.id


async def add_account(
    session: AsyncSession, name: str, *, now: datetime, tier: str, manager_id: int | None
) -> int:
    account = Account(
        name=name,
        name_key=name.lower(),
        tier=tier,
        manager_id=manager_id,
        created_at=now,
        updated_at=now,
    )
    session.add(account)
    await session.flush()
    return account.id


async def add_ticket(
    session: AsyncSession,
    customer_id: int,
    *,
    at: datetime,
    kind: TicketKind = TicketKind.QUESTION,
    satisfaction: int | None = None,
    recommend: int | None = None,
    message: bool = False,
) -> int:
    ticket = Ticket(
        subject="help",
        channel="webchat",
        customer_id=customer_id,
        kind=kind,
        status=TicketStatus.RESOLVED,
        created_at=at,
        updated_at=at,
        satisfaction=satisfaction,
        satisfaction_at=at if satisfaction is not None else None,
        recommend_score=recommend,
        recommend_at=at if recommend is not None else None,
    )
    session.add(ticket)
    await session.flush()
    if message:
        session.add(
            Message(
                ticket_id=ticket.id,
                direction=Direction.IN,
                author_type=AuthorType.CUSTOMER,
                customer_id=customer_id,
                channel="webchat",
                text="hello",
                created_at=at,
            )
        )
        await session.flush()
    return ticket.id
