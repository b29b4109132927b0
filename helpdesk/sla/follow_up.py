"""Some days after a complaint is resolved, the customer is asked on their channel whether the
fix worked; the answer is handled by `helpdesk.conversation.complaints.fix_answer`.

The question is due at `complaint_resolutions.follow_up_at`; the SLA scheduler sleeps until the
earliest one as it does for timers, and claims due questions the same way, so each is asked once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import payloads
from helpdesk.messages import QuickReply
from helpdesk.tickets import audit
from helpdesk.tickets.actions import bot_reply
from helpdesk.tickets.models import AuthorType, ComplaintResolution, Ticket

QUESTION_TEXT = (
    "A few days ago we resolved your complaint (ticket #{number}). Did our fix work for you?"
)
WORKED_LABEL = "Yes, it works"
FAILED_LABEL = "No, it does not"


async def schedule(session: AsyncSession, ticket: Ticket, after: timedelta, now: datetime) -> None:
    """Plan the question for the complaint's newest resolution (once)."""
    resolution = await session.scalar(
        select(ComplaintResolution)
        .where(ComplaintResolution.ticket_id == ticket.id)
        .order_by(ComplaintResolution.id.desc())
        .limit(1)
    )
    if resolution is not None and resolution.follow_up_at is None:
        resolution.follow_up_at = now + after


async def next_due(session: AsyncSession) -> datetime | None:
    due: datetime | None = await session.scalar(
        select(func.min(ComplaintResolution.follow_up_at)).where(
            ComplaintResolution.follow_up_sent_at.is_(None)
        )
    )
    return due


async def ask_due(session: AsyncSession, now: datetime, limit: int, is_sqlite: bool) -> int:
    """Ask every question due now (up to `limit`); rows another process holds are skipped."""
    query = (
        select(ComplaintResolution)
        .where(
            ComplaintResolution.follow_up_at <= now,
            ComplaintResolution.follow_up_sent_at.is_(None),
        )
        .order_by(ComplaintResolution.follow_up_at)
        .limit(limit)
    )
    if not is_sqlite:
        query = query.with_for_update(skip_locked=True)
    due = list(await session.scalars(query))
    for resolution in due:
        resolution.follow_up_sent_at = now
        ticket = await session.get(Ticket, resolution.ticket_id)
        if ticket is None:
            continue
        buttons = (
            QuickReply(payloads.fix_worked(ticket.id), WORKED_LABEL),
            QuickReply(payloads.fix_failed(ticket.id), FAILED_LABEL),
        )
        text = QUESTION_TEXT.format(number=ticket.id)
        await bot_reply(
            session, ticket, text, now=now, quick_replies=buttons, author=AuthorType.SYSTEM
        )
        audit.automatic(
            session,
            AuthorType.SYSTEM,
            at=now,
            ticket_id=ticket.id,
            action="complaint.follow_up_asked",
            reason=f"the complaint was resolved on {resolution.resolved_at:%Y-%m-%d}",
        )
    return len(due)
