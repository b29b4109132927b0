"""The email channel's part of erasing a customer or a ticket's content: the Message-IDs and
Date headers it keeps, the people copied on the tickets, and quarantined mail the customer
sent (its raw bytes too, unless other mail names the same file)."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.email.models import (
    EmailOriginalDate,
    EmailParticipant,
    EmailQuarantine,
    EmailReference,
)
from helpdesk.customers.content_erasure import ContentScope

CHUNK = 500


async def erase_email(session: AsyncSession, scope: ContentScope) -> None:
    for start in range(0, len(scope.ticket_ids), CHUNK):
        tickets = scope.ticket_ids[start : start + CHUNK]
        await session.execute(delete(EmailReference).where(EmailReference.ticket_id.in_(tickets)))
        await session.execute(
            delete(EmailParticipant).where(EmailParticipant.ticket_id.in_(tickets))
        )
    for start in range(0, len(scope.message_ids), CHUNK):
        messages = scope.message_ids[start : start + CHUNK]
        await session.execute(
            delete(EmailOriginalDate).where(EmailOriginalDate.message_id.in_(messages))
        )
        quarantined = await session.scalars(
            select(EmailQuarantine).where(EmailQuarantine.message_id.in_(messages))
        )
        await _drop(session, scope, list(quarantined))
    for channel, address in scope.addresses:
        if channel != "email" or not address:
            continue
        pattern = "%" + address.lower().replace("%", "").replace("_", "\\_") + "%"
        sent = await session.scalars(
            select(EmailQuarantine).where(
                func.lower(EmailQuarantine.sender).like(pattern, escape="\\")
            )
        )
        await _drop(session, scope, list(sent))


async def _drop(session: AsyncSession, scope: ContentScope, rows: list[EmailQuarantine]) -> None:
    for row in rows:
        scope.digests.add(row.sha256)
        await session.delete(row)
