"""Customers as people: one customer may be known on several channels, and two records that
turn out to be the same person are merged into one, so agents see one history.

A merge moves every row that belongs to the source (`references.MOVED`) to the target, fills the
target's empty fields from the source, deletes the source and records all of it in
`customer_merges` / `customer_merge_rows`, so that `unmerge.undo_merge` can put exactly those rows
back. It runs in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, delete, insert, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.merge_events import CustomersMerged
from helpdesk.customers.merge_models import CustomerMerge, CustomerMergeRow
from helpdesk.customers.models import Customer
from helpdesk.customers.references import MOVED, Reference
from helpdesk.storage.base import table_of
from helpdesk.storage.database import rows_matched
from helpdesk.storage.event_log import record
from helpdesk.storage.rows import insert_one
from helpdesk.tickets import audit
from helpdesk.tickets.models import AuthorType

# The target's fields that take the source's value when the target has none (an empty name
# included): what the agent knew about the person is kept. An undo empties them again.
FILLABLE = ("name", "email", "phone", "language", "account_id", "value", "external_ref")
MERGE_ROWS = table_of(CustomerMergeRow)
_DATETIME = "$datetime"


class CustomerNotFound(Exception):
    """No customer with this id."""


@dataclass(frozen=True, slots=True)
class Merged:
    """What a merge did: its record's id and how many rows of each table moved."""

    merge_id: int
    source_id: int
    target_id: int
    moved: dict[str, int] = field(default_factory=dict)


def to_json(value: Any) -> Any:
    """A column value as JSON; times are tagged so they come back as times."""
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    return value


def from_json(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {_DATETIME}:
        return datetime.fromisoformat(value[_DATETIME])
    return value


async def row_as_stored(session: AsyncSession, name: str, where: str, key: int) -> dict[str, Any]:
    """Every column of one row as JSON, whatever columns the table has grown: the snapshot an
    undo inserts again."""
    statement = text(f"SELECT * FROM {name} WHERE {where} = :key")  # names from MOVED only
    row = (await session.execute(statement, {"key": key})).mappings().one()
    return {column: to_json(value) for column, value in row.items()}


async def merge_customers(
    session: AsyncSession,
    source_id: int,
    target_id: int,
    *,
    now: datetime,
    reason: str,
    actor_type: AuthorType = AuthorType.SYSTEM,
    actor_id: int | None = None,
) -> Merged | None:
    """Move everything of `source_id` onto `target_id`, delete the emptied source and record the
    merge (None when the two are one customer already). Raises CustomerNotFound."""
    if source_id == target_id:
        return None
    # Both rows locked (PostgreSQL) in id order, so two merges touching one customer queue up.
    found = {
        row.id: row
        for row in (
            await session.execute(
                select(Customer.id, Customer.name)
                .where(Customer.id.in_([source_id, target_id]))
                .order_by(Customer.id)
                .with_for_update()
            )
        )
    }
    missing = {source_id, target_id} - set(found)
    if missing:
        raise CustomerNotFound(min(missing))
    source = await row_as_stored(session, "customers", "id", source_id)
    merge = CustomerMerge(
        source_id=source_id,
        target_id=target_id,
        actor_type=actor_type.value,
        actor_id=actor_id,
        at=now,
        reason=reason,
        source=source,
        filled={},
        kept={},
    )
    merge_id = await insert_one(session, merge)
    moved: dict[str, int] = {}
    kept: dict[str, list[dict[str, Any]]] = {}
    for reference in MOVED:
        if reference.one_per_customer and await _has_row(session, reference, target_id):
            if await _has_row(session, reference, source_id):
                kept[reference.table] = [
                    await row_as_stored(session, reference.table, reference.column, source_id)
                ]
                await session.execute(
                    delete(reference.clause()).where(
                        reference.clause().c[reference.column] == source_id
                    )
                )
            continue
        moved[reference.table] = await _move(session, reference, merge_id, source_id, target_id)
    filled = await _fill_target(session, target_id, source)
    await session.execute(delete(Customer).where(Customer.id == source_id))
    if filled:
        await session.execute(update(Customer).where(Customer.id == target_id).values(**filled))
    await session.execute(
        update(CustomerMerge)
        .where(CustomerMerge.id == merge_id)
        .values(filled={k: to_json(v) for k, v in filled.items()}, kept=kept)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        at=now,
        actor_type=actor_type,
        actor_id=actor_id,
        ticket_id=None,
        action="customer.merged",
        merge_id=merge_id,
        source_customer_id=source_id,
        source_name=found[source_id].name or "",
        target_customer_id=target_id,
        reason=reason,
        **moved,
    )
    record(session, CustomersMerged(merge_id, source_id, target_id))
    return Merged(merge_id, source_id, target_id, moved)


async def _has_row(session: AsyncSession, reference: Reference, customer_id: int) -> bool:
    clause = reference.clause()
    found = await session.scalar(
        select(clause.c[reference.key]).where(clause.c[reference.column] == customer_id).limit(1)
    )
    return found is not None


async def _move(
    session: AsyncSession, reference: Reference, merge_id: int, source_id: int, target_id: int
) -> int:
    """Write down which rows of the table are the source's, then give them to the target."""
    clause = reference.clause()
    mine = clause.c[reference.column] == source_id
    await session.execute(
        insert(MERGE_ROWS).from_select(
            ["merge_id", "table_name", "row_key"],
            select(
                literal(merge_id, BigInteger),
                literal(reference.table, String(64)),
                clause.c[reference.key],
            ).where(mine),
        )
    )
    result = await session.execute(
        update(clause)
        .where(mine)
        .values({reference.column: target_id})
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result)


async def _fill_target(
    session: AsyncSession, target_id: int, source: dict[str, Any]
) -> dict[str, Any]:
    """The target's empty fields that the source had a value for."""
    target = (
        await session.execute(
            select(*(getattr(Customer, name) for name in FILLABLE)).where(Customer.id == target_id)
        )
    ).one()
    return {
        name: from_json(source.get(name))
        for name, current in zip(FILLABLE, target, strict=True)
        if current in (None, "") and source.get(name) not in (None, "")
    }
