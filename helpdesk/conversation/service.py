"""What happens after a customer's message is stored, whatever the channel: a request for a
person or a complaint hands the ticket over at once, a rating is recorded, and otherwise the
answer bot (if one is configured and the ticket is still its) may answer.

The customer is never left with only the bot: every hand-over is told to the customer, and the
answer bot's own replies carry the way to a person (see `helpdesk.kb`).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import payloads
from helpdesk.common.clock import Clock
from helpdesk.config import ConversationSettings
from helpdesk.conversation.satisfaction import record_satisfaction
from helpdesk.events.bus import EventBus
from helpdesk.events.types import Event, MessageReceived, TicketChanged, TicketHandedOver
from helpdesk.payloads import PayloadKind
from helpdesk.storage.database import Database
from helpdesk.tickets import audit
from helpdesk.tickets.actions import bot_reply
from helpdesk.tickets.models import AuthorType, Message, Priority, Ticket, TicketKind

log = logging.getLogger(__name__)

HANDED_OVER_TEXT = (
    "Thank you. I have passed your message to our team: a person will answer you here."
)
COMPLAINT_TEXT = (
    "We are sorry that we let you down. Your complaint is registered as ticket #{number}; "
    "a person will look into it and answer you here."
)

# Plain words asking for a person, in the languages customers most often write in. A whole
# message like "agent" or "talk to a human" counts; a sentence that merely mentions an agent
# ("my agent at the branch said ...") does not.
_PERSON_WORDS = (
    r"((a|an|the|real|live)\s+)*(human|person|agent|operator|someone|somebody|representative|"
    r"people|support|staff|manager)(\s+(please|pls))?"
)
_ASKS_FOR_PERSON = re.compile(
    rf"""^\s*(
        (i\s+)?(want|need|would\s+like|wanna|can\s+i|could\s+i|let\s+me)\s+
            (to\s+)?(talk|speak|chat)\s+(to|with)\s+{_PERSON_WORDS}
      | (talk|speak|chat)\s+(to|with)\s+{_PERSON_WORDS}
      | (connect|transfer)\s+me\s+(to|with)\s+{_PERSON_WORDS}
      | {_PERSON_WORDS}
      | /human | /agent | /operator
      | (оператор|человек|живой\s+человек|позовите\s+оператора|соедините\s+с\s+оператором)
      | (mensch|mitarbeiter|einen\s+mitarbeiter\s+bitte)
      | (humain|un\s+humain|parler\s+à\s+un\s+humain|un\s+conseiller)
      | (humano|una\s+persona|hablar\s+con\s+una\s+persona|un\s+agente)
    )\s*[.!?]*\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


def asks_for_person(text: str) -> bool:
    return len(text) <= 80 and _ASKS_FOR_PERSON.match(text) is not None


class AnswerBot(Protocol):
    """The knowledge base's bot. Each method runs in the caller's transaction and returns the
    events to publish after its commit."""

    @property
    def active(self) -> bool:
        """Whether the bot has anything to say at all (e.g. published articles)."""
        ...

    async def respond(
        self, session: AsyncSession, ticket: Ticket, message: Message, *, now: datetime
    ) -> list[Event]:
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
    ) -> list[Event]:
        """The customer said whether the bot's article helped."""
        ...


async def hand_over(
    session: AsyncSession, ticket: Ticket, reason: str, *, now: datetime, tell_customer: bool = True
) -> list[Event]:
    """Give the ticket to people: the bot falls silent and routing takes it. Idempotent."""
    if ticket.handed_over_at is not None:
        return []
    ticket.handed_over_at = now
    ticket.updated_at = now
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.BOT,
        actor_id=None,
        ticket_id=ticket.id,
        action="ticket.handed_over",
        reason=reason,
    )
    events: list[Event] = [TicketHandedOver(ticket.id, reason)]
    if tell_customer:
        events += (
            await bot_reply(session, ticket, HANDED_OVER_TEXT, now=now, author=AuthorType.SYSTEM)
        ).events
    return events


async def open_complaint(session: AsyncSession, ticket: Ticket, *, now: datetime) -> list[Event]:
    """A complaint is easy to make: one tap marks the ticket and puts a person on it."""
    changes: dict[str, str] = {}
    if ticket.kind != TicketKind.COMPLAINT:
        ticket.kind = TicketKind.COMPLAINT
        changes["kind"] = TicketKind.COMPLAINT.value
    if ticket.priority in (Priority.LOW, Priority.NORMAL):
        ticket.priority = Priority.HIGH
        changes["priority"] = Priority.HIGH.value
    events: list[Event] = []
    if changes:
        audit.record(
            session,
            at=now,
            actor_type=AuthorType.CUSTOMER,
            actor_id=ticket.customer_id,
            ticket_id=ticket.id,
            action="ticket.complaint_opened",
            **changes,
        )
        events.append(TicketChanged(ticket.id, changes))
        text = COMPLAINT_TEXT.format(number=ticket.id)
        events += (await bot_reply(session, ticket, text, now=now, author=AuthorType.SYSTEM)).events
    events += await hand_over(session, ticket, "complaint", now=now, tell_customer=False)
    return events


class ConversationService:
    def __init__(
        self, db: Database, bus: EventBus, clock: Clock, settings: ConversationSettings
    ) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._bot_channels = frozenset(settings.bot_channels)
        # Set by the knowledge base when it is on; without it every ticket waits for people.
        self.answer_bot: AnswerBot | None = None
        bus.subscribe(MessageReceived, self.on_message, wanted=self.needs_reaction)

    def needs_reaction(self, event: MessageReceived) -> bool:
        """Most messages need nothing from us; deciding that from the event alone keeps them
        off the database and intake's write lock free."""
        return (
            event.payload is not None
            or self._bot_answers(event.channel)
            or asks_for_person(event.text)
        )

    async def on_message(self, event: MessageReceived) -> None:
        """Runs only for events `needs_reaction` accepted (the bus asks it first)."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            message = await session.get(Message, event.message_id)
            # Locked: two quick messages must not both hand over, or both be answered.
            ticket = await session.get(Ticket, event.ticket_id, with_for_update=True)
            if message is None or ticket is None or message.author_type != AuthorType.CUSTOMER:
                return
            events = await self._react(session, ticket, message, now)
        self._bus.publish(events)

    async def _react(
        self, session: AsyncSession, ticket: Ticket, message: Message, now: datetime
    ) -> list[Event]:
        parsed = payloads.parse(message.payload)
        kind = parsed.kind if parsed else None
        if kind == PayloadKind.HUMAN or (kind is None and asks_for_person(message.text)):
            return await hand_over(session, ticket, "the customer asked for a person", now=now)
        if kind == PayloadKind.COMPLAINT:
            return await open_complaint(session, ticket, now=now)
        if kind == PayloadKind.RATING and parsed and parsed.value:
            return await record_satisfaction(session, ticket, parsed.value, now=now)
        if kind in (PayloadKind.KB_HELPED, PayloadKind.KB_NOT_HELPED) and parsed:
            if self.answer_bot is None or parsed.value is None:
                return []
            helped = kind == PayloadKind.KB_HELPED
            return await self.answer_bot.record_vote(session, ticket, parsed.value, helped, now=now)
        if kind == PayloadKind.UNKNOWN:
            log.info("ticket #%s: unknown payload %r ignored", ticket.id, message.payload)
        bot = self.answer_bot
        if bot is not None and self._bot_answers(ticket.channel) and ticket.handed_over_at is None:
            return await bot.respond(session, ticket, message, now=now)
        return []

    def _bot_answers(self, channel: str) -> bool:
        return (
            self.answer_bot is not None and self.answer_bot.active and channel in self._bot_channels
        )
