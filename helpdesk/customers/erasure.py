"""Erasing a customer: their personal data and their tickets' content go, the anonymous rows
reports count stay (docs/customers.md#export-and-erasure).

The customer row stays as "erased customer #id" with `erased_at`; identities stay (messages
point at them) with their addresses replaced by a placeholder that matches nobody, so a later
message from the same address starts a new customer. The audit trail records who erased whom
and when, and what was counted, never what was erased.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.consent_models import Consent
from helpdesk.customers.content_erasure import (
    ChannelEraser,
    ContentScope,
    erase_content,
    message_ids_of,
)
from helpdesk.customers.erasure_records import forget_records
from helpdesk.customers.models import Customer, Identity
from helpdesk.tickets import audit
from helpdesk.tickets.models import AuditEntry, AuthorType, Message, Ticket


class CustomerNotFound(Exception):
    """No customer with this id."""


@dataclass(frozen=True, slots=True)
class Erased:
    customer_id: int
    tickets: int
    messages: int
    files: int
    # Digests whose bytes went: the caller removes files an earlier version kept on disk.
    removed_digests: frozenset[str]


def erased_name(customer_id: int) -> str:
    return f"erased customer #{customer_id}"


async def erase_customer(
    session: AsyncSession,
    customer_id: int,
    *,
    now: datetime,
    actor_id: int | None,
    erasers: Sequence[ChannelEraser] = (),
) -> Erased:
    """Erase in the caller's transaction. Erasing an erased customer again erases what came
    since (a message that was on its way)."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound(customer_id)
    identities = list(
        await session.scalars(select(Identity).where(Identity.customer_id == customer_id))
    )
    ticket_ids = list(
        await session.scalars(select(Ticket.id).where(Ticket.customer_id == customer_id))
    )
    message_ids = set(await message_ids_of(session, ticket_ids))
    # Their messages on someone else's ticket (before a merge was undone, say).
    message_ids.update(
        await session.scalars(select(Message.id).where(Message.customer_id == customer_id))
    )
    scope = ContentScope(
        ticket_ids=ticket_ids,
        message_ids=sorted(message_ids),
        now=now,
        customer_id=customer_id,
        addresses=[(i.channel, i.address) for i in identities],
    )
    await erase_content(session, scope, erasers)
    files = len(scope.digests)
    for identity in identities:
        identity.address = f"erased:{identity.id}"
        identity.display_name = ""
        identity.username = None
        identity.unreachable = True
    customer.name = erased_name(customer_id)
    customer.email = None
    customer.phone = None
    customer.external_ref = None
    customer.erased_at = now
    await session.execute(
        update(Consent)
        .where(Consent.customer_id == customer_id)
        .values(note="")
        .execution_options(synchronize_session=False)
    )
    await _forget_merged_names(session, customer_id)
    await forget_records(session, customer_id, ticket_ids)
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.AGENT if actor_id is not None else AuthorType.SYSTEM,
        actor_id=actor_id,
        ticket_id=None,
        action="customer.erased",
        customer_id=customer_id,
        tickets=len(ticket_ids),
        messages=len(message_ids),
        files=files,
    )
    await session.flush()
    return Erased(
        customer_id, len(ticket_ids), len(message_ids), files, frozenset(scope.removed_digests)
    )


async def _forget_merged_names(session: AsyncSession, customer_id: int) -> None:
    """A merge's audit entry keeps the merged-away record's name: the same person's."""
    entries = await session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "customer.merged",
            or_(
                AuditEntry.detail["target_customer_id"].as_integer() == customer_id,
                AuditEntry.detail["source_customer_id"].as_integer() == customer_id,
            ),
        )
    )
    for entry in entries:
        if entry.detail.get("source_name"):
            entry.detail = {**entry.detail, "source_name": ""}
