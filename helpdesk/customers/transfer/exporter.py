"""Writing every customer to a CSV file with the columns the import reads, so that importing
the file into an empty helpdesk gives the same customers.

A customer with neither an external_ref nor an email (an anonymous chat visitor) has nothing an
import could match them by: such customers are counted, not written. An email the customer
typed but never proved is not written either: importing it would make it proven."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Account, Customer, Identity
from helpdesk.customers.transfer.columns import FIELDS
from helpdesk.routing.models import CustomerManager
from helpdesk.staff.models import Agent
from helpdesk.storage.database import Database

PAGE_ROWS = 5_000


@dataclass(frozen=True, slots=True)
class ExportReport:
    written: int
    anonymous: int


def _query() -> Any:
    unproven = (
        select(Identity.id)
        .where(
            Identity.customer_id == Customer.id,
            Identity.channel == "email",
            Identity.address == Customer.email,
            Identity.verified.is_(False),
        )
        .exists()
    )
    return (
        select(
            Customer.id,
            Customer.external_ref,
            Customer.name,
            Customer.email,
            unproven.label("unproven"),
            Customer.phone,
            Customer.language,
            Account.name.label("account"),
            Account.external_ref.label("account_ref"),
            Customer.value,
            Customer.tier_override,
            Agent.email.label("manager"),
        )
        .outerjoin(Account, Account.id == Customer.account_id)
        .outerjoin(CustomerManager, CustomerManager.customer_id == Customer.id)
        .outerjoin(Agent, Agent.id == CustomerManager.manager_id)
        .order_by(Customer.id)
        .limit(PAGE_ROWS)
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)
    return str(value)


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Customer)) or 0)


async def export_customers(
    db: Database,
    path: Path,
    *,
    progress: Callable[[int], object] | None = None,
    total: Callable[[int], None] | None = None,
) -> ExportReport:
    """Write every customer that can be matched on import to `path` (UTF-8, comma-separated)."""
    written = anonymous = 0
    last_id = 0
    query = _query()
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        async with db.read() as session:
            if total is not None:
                total(await _count(session))
            while True:
                page = (await session.execute(query.where(Customer.id > last_id))).all()
                if not page:
                    break
                for row in page:
                    email = None if row.unproven else row.email or None
                    if row.external_ref is None and email is None:
                        anonymous += 1
                        continue
                    values = {**row._asdict(), "email": email}
                    writer.writerow([_cell(values[name]) for name in FIELDS])
                    written += 1
                last_id = page[-1].id
                if progress is not None:
                    progress(len(page))
    return ExportReport(written, anonymous)
