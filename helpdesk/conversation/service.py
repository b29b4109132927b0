"""What happens after a customer's message is stored, whatever the channel: a request for a
person or a complaint hands the ticket over at once, mail from a machine goes to people without
an answer, a rating is recorded, and otherwise the answer bot (if one is configured and the
ticket is still its) may answer.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import payloads
from helpdesk.common.clock import Clock
from helpdesk.conversation import complaints
from helpdesk.conversation.complaint_detector import assess
from helpdesk.conversation.handover import asks_for_person, hand_over, open_complaint
from helpdesk.conversation.satisfaction import record_recommendation, record_satisfaction
from helpdesk.conversation.settings import ConversationSettings
from helpdesk.conversation.stopping import asks_to_stop, stop_unasked
from helpdesk.events.types import MessageReceived
from helpdesk.payloads import PayloadKind
from helpdesk.tickets.models import AuthorType, Message, Ticket

log = logging.getLogger(__name__)


class AnswerBot(Protocol):
    """The knowledge base's bot. Each method runs in the caller's transaction and records its
    events on the session."""

    @property
    def active(self) -> bool:
        """Whether the bot has anything to say at all (e.g. published articles)."""
        ...

    async def respond(
        self, session: AsyncSession, ticket: Ticket, message: Message, *, now: datetime
    ) -> None:
        """Answer a customer's message on a ticket the bot still holds, or hand it over."""
        ...

    async def record_vote(
        self,
        session: AsyncSession,
        ticket: Ticket,
        article_id: int,
        helped: bool,
        *,
        now: datetime,
    ) -> None:
        """The customer said whether the bot's article helped."""
        ...


class ConversationService:
    def __init__(self, clock: Clock, settings: ConversationSettings) -> None:
        self._clock = clock
        self._bot_channels = frozenset(settings.bot_channels)
        self._detect = settings.complaint_detection
        self._threshold = settings.complaint_threshold
        self._recommend = settings.recommend_question
        # Set by the knowledge base when it is on; without it every ticket waits for people.
        self.answer_bot: AnswerBot | None = None

    def needs_reaction(self, event: MessageReceived) -> bool:
        """Most messages need nothing from us; deciding that from the event alone keeps them
        off the database."""
        return (
            event.payload is not None
            or event.automatic is not None
            or self._bot_answers(event.channel)
            or asks_for_person(event.text)
            or asks_to_stop(event.text)
            or self._sounds_like_complaint(event.text)
        )

    def _sounds_like_complaint(self, text: str) -> bool:
        return self._detect and assess(text).likely(self._threshold)

    async def on_message(self, session: AsyncSession, event: MessageReceived) -> None:
        """The reaction to a customer's message (for the events `needs_reaction` accepts)."""
        message = await session.get(Message, event.message_id)
        # Locked: on PostgreSQL an agent's change may be committing on the same ticket.
        ticket = await session.get(Ticket, event.ticket_id, with_for_update=True)
        if message is None or ticket is None or message.author_type != AuthorType.CUSTOMER:
            return
        await self._react(session, ticket, message, event, self._clock.now())

    async def _react(
        self,
        session: AsyncSession,
        ticket: Ticket,
        message: Message,
        event: MessageReceived,
        now: datetime,
    ) -> None:
        if event.automatic is not None:
            reason = f"automatic mail ({event.automatic}): no automatic answer"
            await hand_over(session, ticket, reason, now=now, tell_customer=False)
            return
        parsed = payloads.parse(message.payload)
        kind = parsed.kind if parsed else None
        if kind == PayloadKind.HUMAN or (kind is None and asks_for_person(message.text)):
            await hand_over(session, ticket, "the customer asked for a person", now=now)
            return
        if kind == PayloadKind.COMPLAINT:
            await open_complaint(session, ticket, now=now)
            return
        if kind == PayloadKind.STOP or (kind is None and asks_to_stop(message.text)):
            await stop_unasked(session, ticket, message, now=now)
            return
        if kind == PayloadKind.RATING and parsed and parsed.value:
            await record_satisfaction(
                session, ticket, parsed.value, now=now, ask_recommend=self._recommend
            )
            return
        if kind == PayloadKind.RECOMMEND and parsed and parsed.value is not None:
            await record_recommendation(session, ticket, parsed.value, now=now)
            return
        if kind in (PayloadKind.KB_HELPED, PayloadKind.KB_NOT_HELPED) and parsed:
            if self.answer_bot is not None and parsed.value is not None:
                helped = kind == PayloadKind.KB_HELPED
                await self.answer_bot.record_vote(session, ticket, parsed.value, helped, now=now)
            return
        if kind in (PayloadKind.FIX_WORKED, PayloadKind.FIX_FAILED) and parsed and parsed.value:
            worked = kind == PayloadKind.FIX_WORKED
            await complaints.fix_answer(session, message, parsed.value, worked=worked, now=now)
            return
        if kind == PayloadKind.UNKNOWN:
            log.info("ticket #%s: unknown payload %r ignored", ticket.id, message.payload)
        if kind is None and self._detect:
            signal = assess(message.text)
            if signal.likely(self._threshold):
                # A likely complaint goes to a person, who confirms it or not.
                await complaints.suggest(session, ticket, message, signal, now)
                return
        bot = self.answer_bot
        if bot is not None and self._bot_answers(ticket.channel) and ticket.handed_over_at is None:
            await bot.respond(session, ticket, message, now=now)

    def bot_answers(self, channel: str) -> bool:
        """Whether the answer bot takes this channel's new tickets first (routing then waits
        for the hand-over)."""
        return self._bot_answers(channel)

    def _bot_answers(self, channel: str) -> bool:
        return (
            self.answer_bot is not None and self.answer_bot.active and channel in self._bot_channels
        )
