"""Complaints an agent marks or confirms, and the ones the detector suggests.

A customer opens a complaint with one tap (`handover.open_complaint`); an agent can mark any
ticket as one, and confirms or dismisses what the detector (`complaint_detector`) suggested.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.conversation.complaint_detector import ComplaintSignal
from helpdesk.conversation.handover import hand_over, mark_complaint
from helpdesk.events.types import TicketChanged, TicketReopened
from helpdesk.staff.models import Agent
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.actions import bot_note, bot_reply
from helpdesk.tickets.models import (
    AuthorType,
    ComplaintResolution,
    ComplaintSuggestion,
    Message,
    Ticket,
    TicketKind,
    TicketStatus,
)


async def suggest(
    session: AsyncSession, ticket: Ticket, message: Message, signal: ComplaintSignal, now: datetime
) -> ComplaintSuggestion | None:
    """Mark the ticket as a likely complaint for an agent to confirm (once while undecided), and
    make sure a person, not the bot, answers it."""
    if ticket.kind == TicketKind.COMPLAINT:
        return None
    waiting = await session.scalar(
        select(ComplaintSuggestion.id).where(
            ComplaintSuggestion.ticket_id == ticket.id, ComplaintSuggestion.decided_at.is_(None)
        )
    )
    if waiting is not None:
        return None
    suggestion = ComplaintSuggestion(
        ticket_id=ticket.id,
        message_id=message.id,
        score=signal.score,
        reason=signal.explanation,
        created_at=now,
    )
    session.add(suggestion)
    audit.automatic(
        session,
        AuthorType.SYSTEM,
        at=now,
        ticket_id=ticket.id,
        action="complaint.suggested",
        reason=f"message #{message.id} reads like a complaint ({signal.explanation})",
        score=signal.score,
    )
    # Said where the agent reads the ticket, with what to do about it.
    note = (
        f"This message reads like a complaint ({signal.explanation}). If it is one, mark the "
        "ticket as a complaint; if not, dismiss the suggestion."
    )
    await bot_note(session, ticket, note, now=now)
    await hand_over(session, ticket, "likely complaint: " + signal.explanation, now=now)
    return suggestion


async def decide(
    session: AsyncSession, agent: Agent, ticket: Ticket, *, confirm: bool, now: datetime
) -> None:
    """The agent's word: a complaint (marked now, suggested or not) or not one."""
    pending = await session.scalars(
        select(ComplaintSuggestion).where(
            ComplaintSuggestion.ticket_id == ticket.id, ComplaintSuggestion.decided_at.is_(None)
        )
    )
    for suggestion in pending:
        suggestion.decided_at = now
        suggestion.decided_by = agent.id
        suggestion.confirmed = confirm
    if not confirm:
        audit.record(
            session,
            at=now,
            actor_type=AuthorType.AGENT,
            actor_id=agent.id,
            ticket_id=ticket.id,
            action="complaint.dismissed",
        )
        return
    changes = mark_complaint(ticket)
    if changes:
        ticket.updated_at = now
        audit.record(
            session,
            at=now,
            actor_type=AuthorType.AGENT,
            actor_id=agent.id,
            ticket_id=ticket.id,
            action="complaint.marked",
            **changes,
        )
        record(session, TicketChanged(ticket.id, changes))


FIX_WORKED_TEXT = "Thank you for telling us. We are glad it is fixed."
FIX_FAILED_TEXT = (
    "We are sorry it is not fixed. Your complaint (ticket #{number}) is open again and a person "
    "will look into it."
)


async def fix_answer(
    session: AsyncSession, message: Message, ticket_id: int, *, worked: bool, now: datetime
) -> None:
    """The customer's answer to "did our fix work?". A "no" reopens the ticket as a complaint
    (closed or not: the complaint is not over)."""
    ticket = await session.get(Ticket, ticket_id, with_for_update=True)
    if ticket is None or ticket.customer_id != message.customer_id:
        return  # a button of someone else's ticket: nothing to do
    resolution = await session.scalar(
        select(ComplaintResolution)
        .where(ComplaintResolution.ticket_id == ticket.id)
        .order_by(ComplaintResolution.id.desc())
        .limit(1)
    )
    if resolution is None or resolution.follow_up_answer is not None:
        return  # answered already (a second tap changes nothing)
    resolution.follow_up_answer = "worked" if worked else "failed"
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.CUSTOMER,
        actor_id=ticket.customer_id,
        ticket_id=ticket.id,
        action="complaint.follow_up_answered",
        worked=worked,
    )
    if worked:
        await bot_reply(session, ticket, FIX_WORKED_TEXT, now=now, author=AuthorType.SYSTEM)
        return
    changes = {"status": TicketStatus.OPEN.value, "kind": TicketKind.COMPLAINT.value}
    ticket.status = TicketStatus.OPEN
    ticket.kind = TicketKind.COMPLAINT
    ticket.resolved_at = ticket.closed_at = None
    ticket.updated_at = now
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.CUSTOMER,
        actor_id=ticket.customer_id,
        ticket_id=ticket.id,
        action="ticket.reopened",
        reason="the customer said the fix did not work",
    )
    record(session, TicketReopened(ticket.id))
    record(session, TicketChanged(ticket.id, changes))
    text = FIX_FAILED_TEXT.format(number=ticket.id)
    await bot_reply(session, ticket, text, now=now, author=AuthorType.SYSTEM)
