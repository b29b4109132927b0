"""The share of value each tier holds, as things stand now (not per period, team or agent):
every account's value in the account's tier, and every customer's own value in the customer's
effective tier (`customers/standing.py`: an override, then the account's tier, then their
own). Value without a tier counts as "untiered"."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Account, Customer

UNTIERED = "untiered"


async def value_by_tier(session: AsyncSession) -> list[dict[str, Any]]:
    customer_tier = func.coalesce(
        Customer.tier_override, Account.tier_override, Account.tier, Customer.tier
    )
    account_tier = func.coalesce(Account.tier_override, Account.tier)
    customers = await session.execute(
        select(customer_tier, func.count(), func.sum(Customer.value))
        .select_from(Customer)
        .outerjoin(Account, Account.id == Customer.account_id)
        .where(Customer.value.is_not(None))
        .group_by(customer_tier)
    )
    accounts = await session.execute(
        select(account_tier, func.count(), func.sum(Account.value))
        .where(Account.value.is_not(None))
        .group_by(account_tier)
    )
    holders: dict[str, int] = defaultdict(int)
    value: dict[str, float] = defaultdict(float)
    for tier, count, total in [*customers, *accounts]:
        name = tier or UNTIERED
        holders[name] += int(count)
        value[name] += float(total or 0)
    whole = sum(value.values())
    return [
        {
            "tier": name,
            "holders": holders[name],
            "value": round(value[name], 2),
            "share": None if whole == 0 else round(value[name] / whole, 4),
        }
        for name in sorted(value, key=lambda n: (-value[n], n))
    ]
