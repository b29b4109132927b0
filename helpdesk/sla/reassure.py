""" "We have not forgotten you": an optional word to a customer whose message has waited on us
for `sla.reassure_after_hours` of business time, once per response owed. The response timer
carries the moment (`reassure_at`); the scheduler sleeps until it like any other."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.sla.models import SlaTimer, TimerStatus
from helpdesk.tickets import audit
from helpdesk.tickets.actions import bot_reply
from helpdesk.tickets.models import OPEN_STATUSES, AuthorType, Ticket

TEXT = (
    "We have not forgotten you: your message (ticket #{number}) is with our team, and a person "
    "will answer you here as soon as they can."
)


async def tell_due(session: AsyncSession, now: datetime, limit: int, is_sqlite: bool) -> int:
    query = (
        select(SlaTimer)
        .where(SlaTimer.reassure_at <= now, SlaTimer.status == TimerStatus.RUNNING)
        .order_by(SlaTimer.reassure_at)
        .limit(limit)
    )
    if not is_sqlite:
        query = query.with_for_update(skip_locked=True)
    due = list(await session.scalars(query))
    for timer in due:
        timer.reassure_at = None
        timer.reassured_at = now
        ticket = await session.get(Ticket, timer.ticket_id)
        if ticket is None or ticket.status not in OPEN_STATUSES:
            continue
        await bot_reply(
            session, ticket, TEXT.format(number=ticket.id), now=now, author=AuthorType.SYSTEM
        )
        audit.automatic(
            session,
            AuthorType.SYSTEM,
            at=now,
            ticket_id=ticket.id,
            action="sla.reassured",
            reason=(
                f"the {timer.metric.replace('_', ' ')} has been owed for sla.reassure_after_hours"
                " of business time"
            ),
        )
    return len(due)
