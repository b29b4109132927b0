"""Undoing a merge of two customers: the source comes back (with its old id whenever it is still
free) with its own fields, and exactly the rows that moved go back to it.

What reached the target after the merge stays with the target (a new ticket, a new identity),
except messages written since into a ticket that goes back: a message belongs with its ticket.
An undo that cannot put things back as they were is refused with the reason, and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, column, func, insert, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.merge import FILLABLE, from_json
from helpdesk.customers.merge_events import CustomerMergeUndone
from helpdesk.customers.merge_models import CustomerMerge, CustomerMergeRow
from helpdesk.customers.models import Customer
from helpdesk.customers.references import MOVED, Reference
from helpdesk.storage.database import rows_matched
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.models import AuthorType, Message, Ticket


class MergeNotFound(Exception):
    """No merge with this id."""


class UndoRefused(Exception):
    """The merge cannot be undone safely; the message says why."""


@dataclass(frozen=True, slots=True)
class Undone:
    merge_id: int
    restored_id: int
    target_id: int
    moved_back: dict[str, int] = field(default_factory=dict)
    # Messages written after the merge into tickets that went back, which followed them.
    followed: int = 0


def _recorded(merge_id: int, reference: Reference) -> Any:
    return select(CustomerMergeRow.row_key).where(
        CustomerMergeRow.merge_id == merge_id, CustomerMergeRow.table_name == reference.table
    )


def _still_target(merge: CustomerMerge, reference: Reference) -> Any:
    """The condition on the table for the rows that moved and are still the target's."""
    clause = reference.clause()
    theirs = clause.c[reference.column] == merge.target_id
    if reference.key == reference.column:
        # Keyed by the customer: the one row moved, and it now carries the target's id.
        moved = _recorded(merge.id, reference).exists()
        return and_(theirs, moved)
    return and_(theirs, clause.c[reference.key].in_(_recorded(merge.id, reference)))


async def check_undo(session: AsyncSession, merge: CustomerMerge) -> None:
    """Raise UndoRefused with the first reason this merge cannot be undone as it was."""
    if merge.undone_at is not None:
        raise UndoRefused(f"merge #{merge.id} was undone already")
    if await session.get(Customer, merge.target_id) is None:
        later = await session.scalar(
            select(CustomerMerge.id).where(
                CustomerMerge.source_id == merge.target_id, CustomerMerge.undone_at.is_(None)
            )
        )
        since = f" (merged away by merge #{later}: undo that one first)" if later else ""
        raise UndoRefused(f"customer {merge.target_id} no longer exists{since}")
    for reference in MOVED:
        count = select(func.count()).select_from(CustomerMergeRow)
        recorded = await session.scalar(
            count.where(
                CustomerMergeRow.merge_id == merge.id,
                CustomerMergeRow.table_name == reference.table,
            )
        )
        clause = reference.clause()
        present = await session.scalar(
            select(func.count()).select_from(clause).where(_still_target(merge, reference))
        )
        if recorded and present != recorded:
            gone = (recorded or 0) - (present or 0)
            raise UndoRefused(
                f"{gone} of the {recorded} {reference.table} rows that moved are no longer "
                f"customer {merge.target_id}'s (deleted or moved since)"
            )
    moved_tickets = _recorded(merge.id, Reference("tickets"))
    away = await session.scalar(
        select(Ticket.id).where(
            Ticket.id.in_(moved_tickets),
            Ticket.merged_into_id.is_not(None),
            Ticket.merged_into_id.not_in(moved_tickets),
        )
    )
    if away is not None:
        raise UndoRefused(
            f"ticket #{away} moved with the merge and was since merged into a ticket of "
            f"customer {merge.target_id}; split it out again first"
        )
    into = await session.scalar(
        select(Ticket.id).where(
            Ticket.merged_into_id.in_(moved_tickets), Ticket.id.not_in(moved_tickets)
        )
    )
    if into is not None:
        raise UndoRefused(
            f"ticket #{into} of customer {merge.target_id} was since merged into a ticket that "
            "moved with the merge; undoing would give its messages to the other customer"
        )
    split = await session.scalar(
        select(Message.id)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(
            Message.id.in_(_recorded(merge.id, Reference("messages"))),
            Ticket.id.not_in(moved_tickets),
            Ticket.customer_id == merge.target_id,
            Ticket.created_at > merge.at,
        )
    )
    if split is not None:
        raise UndoRefused(
            f"message {split} moved with the merge and was since split out into a new ticket "
            f"of customer {merge.target_id}"
        )
    ref = merge.source.get("external_ref")
    if ref and merge.filled.get("external_ref") != ref:
        holder = await session.scalar(select(Customer.id).where(Customer.external_ref == ref))
        if holder is not None:
            raise UndoRefused(f"customer {holder} now has the external reference {ref!r}")


async def undo_merge(
    session: AsyncSession,
    merge_id: int,
    *,
    now: datetime,
    reason: str = "",
    actor_type: AuthorType = AuthorType.AGENT,
    actor_id: int | None = None,
) -> Undone:
    """Undo the merge in the caller's transaction. Raises MergeNotFound or UndoRefused."""
    # Locked, and read again even if the session holds it: a second undo waits here for the
    # first to commit, then sees it done.
    merge = await session.scalar(
        select(CustomerMerge)
        .where(CustomerMerge.id == merge_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if merge is None:
        raise MergeNotFound(merge_id)
    await session.scalar(
        select(Customer.id).where(Customer.id == merge.target_id).with_for_update()
    )
    await check_undo(session, merge)
    await _empty_filled(session, merge)
    restored_id = await _recreate_source(session, merge)
    moved_back: dict[str, int] = {}
    for reference in MOVED:
        clause = reference.clause()
        result = await session.execute(
            update(clause)
            .where(_still_target(merge, reference))
            .values({reference.column: restored_id})
            .execution_options(synchronize_session=False)
        )
        moved_back[reference.table] = rows_matched(result)
    followed = rows_matched(
        await session.execute(
            update(Message)
            .where(
                Message.ticket_id.in_(_recorded(merge.id, Reference("tickets"))),
                Message.customer_id == merge.target_id,
            )
            .values(customer_id=restored_id)
            .execution_options(synchronize_session=False)
        )
    )
    for name, rows in merge.kept.items():
        reference = next(r for r in MOVED if r.table == name)
        for row in rows:
            values = {key: from_json(value) for key, value in row.items()}
            values[reference.column] = restored_id
            await session.execute(insert(table(name, *map(column, values))).values(values))
    merge.undone_at, merge.undone_by, merge.restored_id = now, actor_id, restored_id
    audit.record(
        session,
        at=now,
        actor_type=actor_type,
        actor_id=actor_id,
        ticket_id=None,
        action="customer.merge_undone",
        merge_id=merge.id,
        restored_customer_id=restored_id,
        source_customer_id=merge.source_id,
        target_customer_id=merge.target_id,
        reason=reason,
        followed_messages=followed,
        **moved_back,
    )
    record(session, CustomerMergeUndone(merge.id, restored_id, merge.target_id))
    return Undone(merge.id, restored_id, merge.target_id, moved_back, followed)


async def _empty_filled(session: AsyncSession, merge: CustomerMerge) -> None:
    """The target's fields the merge filled from the source are empty again, unless someone
    changed them since (then they are the target's own now)."""
    current = (
        await session.execute(
            select(*(getattr(Customer, name) for name in FILLABLE)).where(
                Customer.id == merge.target_id
            )
        )
    ).one()
    values = dict(zip(FILLABLE, current, strict=True))
    emptied = {
        name: ("" if name == "name" else None)
        for name, given in merge.filled.items()
        if values.get(name) == from_json(given)
    }
    if emptied:
        await session.execute(
            update(Customer).where(Customer.id == merge.target_id).values(**emptied)
        )


async def _recreate_source(session: AsyncSession, merge: CustomerMerge) -> int:
    """The source customer's row again, as it was; under its old id unless that was taken."""
    values = {key: from_json(value) for key, value in merge.source.items()}
    taken = await session.scalar(select(Customer.id).where(Customer.id == merge.source_id))
    if taken is not None:
        values.pop("id")
    customers = table("customers", column("id"), *(column(k) for k in values if k != "id"))
    if "id" in values:
        await session.execute(insert(customers).values(values))
        return merge.source_id
    new_id: int = await session.scalar(insert(customers).values(values).returning(customers.c.id))
    return int(new_id)
