"""The one place the SLA reads a customer's tier: their standing (`customers.standing`), which
follows their account and any override."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.standing import standings

STANDARD = "standard"


async def customer_tier(session: AsyncSession, customer_id: int) -> str:
    """The tier whose policies apply to this customer's tickets."""
    return (await customer_tiers(session, {customer_id}))[customer_id]


async def customer_tiers(session: AsyncSession, customer_ids: set[int]) -> dict[int, str]:
    """`customer_tier` for many customers with one read."""
    found = await standings(session, customer_ids)
    return {
        customer_id: (found[customer_id].tier if customer_id in found else None) or STANDARD
        for customer_id in customer_ids
    }
