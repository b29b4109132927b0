"""Complaints an agent marks or confirms, and the ones the detector suggests.

A customer opens a complaint with one tap (`handover.open_complaint`); an agent can mark any
ticket as one, and confirms or dismisses what the detector (`complaint_detector`) suggested.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.conversation.complaint_detector import ComplaintSignal
from helpdesk.conversation.handover import hand_over
from helpdesk.events.types import TicketChanged
from helpdesk.staff.models import Agent
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.actions import bot_note
from helpdesk.tickets.models import (
    AuthorType,
    ComplaintSuggestion,
    Message,
    Priority,
    Ticket,
    TicketKind,
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
    changes: dict[str, str] = {}
    if ticket.kind != TicketKind.COMPLAINT:
        ticket.kind = TicketKind.COMPLAINT
        changes["kind"] = TicketKind.COMPLAINT.value
    if ticket.priority in (Priority.LOW, Priority.NORMAL):
        ticket.priority = Priority.HIGH
        changes["priority"] = Priority.HIGH.value
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
