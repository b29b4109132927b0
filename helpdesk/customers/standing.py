"""A customer's standing: their tier and account. The one lookup routing, the SLA and the API
read, so that the rule "an account's tier applies to all its contacts, an override wins" lives
in one place."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Account, Customer
from helpdesk.storage.among import among


@dataclass(frozen=True, slots=True)
class Standing:
    tier: str | None
    account_id: int | None = None
    account_name: str | None = None
    # The account's relationship manager and backup; a manager set on the customer in routing
    # (`routing.managers`) comes first.
    account_manager_id: int | None = None
    account_backup_id: int | None = None


def effective_tier(
    customer_tier: str | None,
    customer_override: str | None,
    account_tier: str | None,
    account_override: str | None,
) -> str | None:
    """An override on the customer wins, then the account's tier (override first), then the
    customer's own computed tier."""
    return customer_override or account_override or account_tier or customer_tier


async def standings(session: AsyncSession, customer_ids: Iterable[int]) -> dict[int, Standing]:
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(
            Customer.id,
            Customer.tier,
            Customer.tier_override,
            Customer.account_id,
            Account.name,
            Account.tier.label("account_tier"),
            Account.tier_override.label("account_override"),
            Account.manager_id,
            Account.backup_id,
        )
        .outerjoin(Account, Account.id == Customer.account_id)
        .where(among(session, Customer.id, ids))
    )
    return {
        row.id: Standing(
            tier=effective_tier(
                row.tier, row.tier_override, row.account_tier, row.account_override
            ),
            account_id=row.account_id,
            account_name=row.name,
            account_manager_id=row.manager_id,
            account_backup_id=row.backup_id,
        )
        for row in rows
    }
