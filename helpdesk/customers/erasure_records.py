"""What other capabilities keep about a customer, forgotten by an erasure: unproven email
claims and the codes mailed for them, merge records holding the merged-away record's fields,
rating comments, notes on relationship managers' tasks. Counts and ids stay for reports."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import column, delete, or_, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.email_claims import EmailClaim, EmailCodeSend
from helpdesk.customers.merge_models import CustomerMerge
from helpdesk.tickets.models import Ticket

# Named, not imported: the relationships package reads customers, not the other way round.
_TASKS = table("relationship_tasks", column("customer_id"), column("note"))


async def forget_records(
    session: AsyncSession, customer_id: int, ticket_ids: Sequence[int]
) -> None:
    claimed = list(
        await session.scalars(
            select(EmailClaim.address).where(EmailClaim.customer_id == customer_id)
        )
    )
    await session.execute(delete(EmailClaim).where(EmailClaim.customer_id == customer_id))
    if claimed:
        await session.execute(delete(EmailCodeSend).where(EmailCodeSend.address.in_(claimed)))
    # A merge record keeps the merged-away record's columns (name, email, phone): the same
    # person's, whichever side of the merge the erased customer was.
    await session.execute(
        update(CustomerMerge)
        .where(or_(CustomerMerge.source_id == customer_id, CustomerMerge.target_id == customer_id))
        .values(source={}, filled={}, kept={})
        .execution_options(synchronize_session=False)
    )
    if ticket_ids:
        await session.execute(
            update(Ticket)
            .where(Ticket.id.in_(ticket_ids))
            .values(satisfaction_comment=None)
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        update(_TASKS).where(_TASKS.c.customer_id == customer_id).values(note=None)
    )
