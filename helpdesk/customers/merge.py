"""Customers as people: one customer may be known on several channels, and two records that
turn out to be the same person are merged into one, so agents see one history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Customer, Identity
from helpdesk.storage.database import rows_matched
from helpdesk.tickets import audit
from helpdesk.tickets.models import AuthorType, Message, Ticket


class CustomerNotFound(Exception):
    """No customer with this id."""


async def merge_customers(
    session: AsyncSession,
    source_id: int,
    target_id: int,
    *,
    now: datetime,
    reason: str,
    actor_type: AuthorType = AuthorType.SYSTEM,
    actor_id: int | None = None,
) -> None:
    """Move every identity, ticket and message of `source_id` onto `target_id`, then delete the
    emptied source. Runs in the caller's transaction; the audit entry says why."""
    if source_id == target_id:
        return
    found = set(
        await session.scalars(select(Customer.id).where(Customer.id.in_([source_id, target_id])))
    )
    missing = {source_id, target_id} - found
    if missing:
        raise CustomerNotFound(min(missing))
    moved: dict[str, int] = {}
    for table, column in (
        (Identity, Identity.customer_id),
        (Ticket, Ticket.customer_id),
        (Message, Message.customer_id),
    ):
        result = await session.execute(
            update(table)
            .where(column == source_id)
            .values(customer_id=target_id)
            .execution_options(synchronize_session=False)
        )
        moved[table.__tablename__] = rows_matched(result)
    source_name = await session.scalar(select(Customer.name).where(Customer.id == source_id))
    await session.execute(delete(Customer).where(Customer.id == source_id))
    audit.record(
        session,
        at=now,
        actor_type=actor_type,
        actor_id=actor_id,
        ticket_id=None,
        action="customer.merged",
        source_customer_id=source_id,
        source_name=source_name or "",
        target_customer_id=target_id,
        reason=reason,
        **moved,
    )
