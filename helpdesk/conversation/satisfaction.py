"""Satisfaction is asked after service: when a ticket is resolved, the customer gets one 1-5
question, as buttons on the channels that show buttons (web chat, Telegram) and as a mail of
signed links to a small page on email (`survey_links.py`, `survey_answers.py`). The answer is
kept on the ticket; with `conversation.recommend_question` a 0-10 "would you recommend us?"
follows the first rating."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import payloads
from helpdesk.common.clock import Clock
from helpdesk.conversation.settings import ConversationSettings
from helpdesk.conversation.survey_links import RECOMMEND_SCORES, SCORES, SurveyLinks
from helpdesk.events.types import SatisfactionRated, TicketChanged
from helpdesk.messages import QuickReply
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.actions import bot_reply
from helpdesk.tickets.models import AuditEntry, AuthorType, Ticket, TicketStatus

QUESTION_TEXT = "Your request is resolved. How satisfied are you with our help? (1 = not at all)"
THANKS_TEXT = "Thank you for your rating."
RECOMMEND_TEXT = (
    "Thank you for your rating. One more question: how likely are you to recommend us to a "
    "friend? (0 = not at all, 10 = certainly)"
)
RECOMMEND_THANKS_TEXT = "Thank you for your answer."
ASKED = "satisfaction.asked"
RATING_BUTTONS = tuple(QuickReply(payloads.rating(score), "★" * score) for score in SCORES)
RECOMMEND_BUTTONS = tuple(
    QuickReply(payloads.recommend(score), str(score)) for score in RECOMMEND_SCORES
)
# Channels without buttons: the question goes as a mail of links to the survey page.
LINK_CHANNELS = frozenset({"email"})

# Renders a template by name with its context (the runtime's text and HTML environments).
Render = Callable[..., str]


class SatisfactionSurvey:
    def __init__(
        self,
        clock: Clock,
        settings: ConversationSettings,
        *,
        links: SurveyLinks | None = None,
        render_text: Render | None = None,
        render_html: Render | None = None,
    ) -> None:
        self._clock = clock
        self._channels = frozenset(settings.survey_channels)
        self._recommend = settings.recommend_question
        # Without these (a runtime that cannot render or sign) email is not asked.
        self._links = links
        self._render_text = render_text
        self._render_html = render_html

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
        if ticket.channel in LINK_CHANNELS:
            await self._mail_links(session, ticket, now)
            return
        await bot_reply(
            session,
            ticket,
            QUESTION_TEXT,
            now=now,
            quick_replies=RATING_BUTTONS,
            author=AuthorType.SYSTEM,
        )

    async def _mail_links(self, session: AsyncSession, ticket: Ticket, now: datetime) -> None:
        """One link per score; the HTML part shows them as buttons, the text part as URLs."""
        assert self._links and self._render_text and self._render_html
        token = self._links.token(ticket.id, ticket.customer_id, now=now)
        context = {
            "ticket_number": ticket.id,
            "links": [(score, self._links.url(token, score)) for score in SCORES],
        }
        text = self._render_text("email_survey.txt", **context)
        outcome = await bot_reply(session, ticket, text, now=now, author=AuthorType.SYSTEM)
        assert outcome.message is not None
        outcome.message.html = self._render_html("email_survey.html", **context)

    async def _should_ask(self, session: AsyncSession, ticket: Ticket) -> bool:
        """Once per ticket, where the channel can ask, not after a rating, and only after a
        person served: a customer who just told the bot it helped is not asked again."""
        if ticket.status != TicketStatus.RESOLVED or ticket.satisfaction is not None:
            return False
        if ticket.first_response_at is None:
            return False
        if ticket.channel not in self._channels:
            return False
        if ticket.channel in LINK_CHANNELS and self._links is None:
            return False
        asked = await session.scalar(
            select(AuditEntry.id)
            .where(AuditEntry.ticket_id == ticket.id, AuditEntry.action == ASKED)
            .limit(1)
        )
        return asked is None


async def record_satisfaction(
    session: AsyncSession,
    ticket: Ticket,
    score: int,
    *,
    now: datetime,
    thank: bool = True,
    ask_recommend: bool = False,
) -> None:
    """The customer's answer; a later answer replaces the earlier one, thanked only once (by
    the recommend question when that is asked). The survey page thanks by itself (`thank`)."""
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
    if not (first_rating and thank):
        return
    if ask_recommend and ticket.recommend_score is None:
        await bot_reply(
            session,
            ticket,
            RECOMMEND_TEXT,
            now=now,
            quick_replies=RECOMMEND_BUTTONS,
            author=AuthorType.SYSTEM,
        )
        return
    await bot_reply(session, ticket, THANKS_TEXT, now=now, author=AuthorType.SYSTEM)


async def record_recommendation(
    session: AsyncSession, ticket: Ticket, score: int, *, now: datetime, thank: bool = True
) -> None:
    """The 0-10 answer; like the rating, a later one replaces it and is thanked once."""
    first = ticket.recommend_score is None
    ticket.recommend_score = score
    ticket.recommend_at = now
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.CUSTOMER,
        actor_id=ticket.customer_id,
        ticket_id=ticket.id,
        action="ticket.recommend_rated",
        score=score,
    )
    if first and thank:
        await bot_reply(session, ticket, RECOMMEND_THANKS_TEXT, now=now, author=AuthorType.SYSTEM)
