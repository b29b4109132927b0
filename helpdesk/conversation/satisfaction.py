"""Satisfaction is asked after service: when a ticket is resolved, the customer gets one 1-5
question with buttons on the channels that show buttons, and the answer is kept on the ticket."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import payloads
from helpdesk.common.clock import Clock
from helpdesk.conversation.settings import ConversationSettings
from helpdesk.events.types import SatisfactionRated, TicketChanged
from helpdesk.messages import QuickReply
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.actions import bot_reply
from helpdesk.tickets.models import AuditEntry, AuthorType, Ticket, TicketStatus

QUESTION_TEXT = "Your request is resolved. How satisfied are you with our help? (1 = not at all)"
THANKS_TEXT = "Thank you for your rating."
ASKED = "satisfaction.asked"
RATING_BUTTONS = tuple(QuickReply(payloads.rating(score), "★" * score) for score in range(1, 6))


class SatisfactionSurvey:
    def __init__(self, clock: Clock, settings: ConversationSettings) -> None:
        self._clock = clock
        self._channels = frozenset(settings.survey_channels)

    @staticmethod
    def wanted(event: TicketChanged) -> bool:
        return event.changes.get("status") == TicketStatus.RESOLVED.value

    async def on_ticket_changed(self, session: AsyncSession, event: TicketChanged) -> None:
        """The reaction to a resolved ticket: ask once how satisfied the customer is."""
        now = self._clock.now()
        ticket = await session.get(Ticket, event.ticket_id, with_for_update=True)
        if ticket is None or not await self._should_ask(session, ticket):
            return
        audit.automatic(
            session,
            AuthorType.SYSTEM,
            at=now,
            ticket_id=ticket.id,
            action=ASKED,
        )
        await bot_reply(
            session,
            ticket,
            QUESTION_TEXT,
            now=now,
            quick_replies=RATING_BUTTONS,
            author=AuthorType.SYSTEM,
        )

    async def _should_ask(self, session: AsyncSession, ticket: Ticket) -> bool:
        """Once per ticket, where buttons show, not after a rating, and only after a person
        served: a customer who just told the bot it helped is not asked again."""
        if ticket.status != TicketStatus.RESOLVED or ticket.satisfaction is not None:
            return False
        if ticket.first_response_at is None:
            return False
        if ticket.channel not in self._channels:
            return False
        asked = await session.scalar(
            select(AuditEntry.id)
            .where(AuditEntry.ticket_id == ticket.id, AuditEntry.action == ASKED)
            .limit(1)
        )
        return asked is None


async def record_satisfaction(
    session: AsyncSession, ticket: Ticket, score: int, *, now: datetime
) -> None:
    """The customer's answer; a later answer replaces the earlier one, thanked only once."""
    first_rating = ticket.satisfaction is None
    ticket.satisfaction = score
    ticket.satisfaction_at = now
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.CUSTOMER,
        actor_id=ticket.customer_id,
        ticket_id=ticket.id,
        action="ticket.rated",
        score=score,
    )
    record(session, SatisfactionRated(ticket.id, score))
    if first_rating:
        await bot_reply(session, ticket, THANKS_TEXT, now=now, author=AuthorType.SYSTEM)
