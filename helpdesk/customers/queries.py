"""Small reads about one customer, for pages and answers that name or address them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Customer


async def customer_name(session: AsyncSession, customer_id: int) -> str:
    return await session.scalar(select(Customer.name).where(Customer.id == customer_id)) or ""


async def customer_language(session: AsyncSession, customer_id: int) -> str | None:
    return await session.scalar(select(Customer.language).where(Customer.id == customer_id))
