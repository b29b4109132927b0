"""The addresses customers are known by: kept current as they write."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.merge import merge_customers
from helpdesk.customers.models import Identity


async def refresh(session: AsyncSession, channel: str, handles: Mapping[str, str | None]) -> None:
    """Senders who just wrote: keep their handle (Telegram @username) current, and make an
    address that was unreachable (the customer had blocked us) reachable again."""
    rows = await session.execute(
        select(Identity.id, Identity.address, Identity.username, Identity.unreachable).where(
            Identity.channel == channel, Identity.address.in_(handles)
        )
    )
    for row in rows:
        handle = handles[row.address]
        if row.username != handle or row.unreachable:
            await session.execute(
                update(Identity)
                .where(Identity.id == row.id)
                .values(username=handle, unreachable=False)
                .execution_options(synchronize_session=False)
            )


async def mark_unreachable(session: AsyncSession, channel: str, address: str) -> None:
    """The channel says this address no longer takes our messages (blocked, deleted)."""
    await session.execute(
        update(Identity)
        .where(Identity.channel == channel, Identity.address == address)
        .values(unreachable=True)
        .execution_options(synchronize_session=False)
    )


async def attach(
    session: AsyncSession,
    customer_id: int,
    channel: str,
    address: str,
    *,
    display_name: str,
    username: str | None,
    now: datetime,
    reason: str,
) -> Literal["added", "merged", "already"]:
    """Make `address` one of the customer's identities. An address that belonged to another
    customer brings that customer's whole history along (merged, with `reason` audited)."""
    identity = await session.scalar(
        select(Identity).where(Identity.channel == channel, Identity.address == address)
    )
    if identity is None:
        session.add(
            Identity(
                customer_id=customer_id,
                channel=channel,
                address=address,
                display_name=display_name[:200],
                username=username,
                created_at=now,
            )
        )
        return "added"
    if identity.customer_id == customer_id:
        return "already"
    await merge_customers(session, identity.customer_id, customer_id, now=now, reason=reason)
    return "merged"
