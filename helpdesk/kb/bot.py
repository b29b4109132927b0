"""The answer bot: replies with an article when the index is confident, and otherwise steps
aside at once. Every answer carries the way to a person; an answer the customer did not confirm
is never followed by another: the next message goes to people."""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import payloads
from helpdesk.conversation.handover import hand_over
from helpdesk.customers.models import Customer
from helpdesk.events.types import TicketChanged
from helpdesk.kb import articles as kb_articles
from helpdesk.kb.decisions import record_decision
from helpdesk.kb.index import Ranking
from helpdesk.kb.models import (
    Article,
    ArticleStatus,
    BotAnswer,
    BotAnswerOutcome,
    BotDecisionKind,
)
from helpdesk.kb.render import to_text
from helpdesk.kb.service import KnowledgeBase
from helpdesk.messages import QuickReply
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.actions import bot_note, bot_reply
from helpdesk.tickets.models import OPEN_STATUSES, AuthorType, Message, Ticket, TicketStatus

log = logging.getLogger(__name__)

HELPED_LABEL = "Yes, that helped"
NOT_HELPED_LABEL = "No, talk to a person"
PERSON_LABEL = "Talk to a person"
ASK_TEXT = "Did this answer your question?"
THANKS_TEXT = "Glad that helped! Write again any time if there is anything else."
# Bot answers are chat-sized; the full article stays one click away for agents.
MAX_ANSWER_CHARS = 3500

_COMPLAINT = re.compile(
    r"\b(complain\w*|complaint|unacceptable|outrageous|disgrace\w*|furious|scandal\w*|"
    r"terrible service|worst service|ripped off|rip-?off|beschwerde|réclamation|queja|жалоб\w*)\b",
    re.IGNORECASE,
)


def looks_like_complaint(text: str) -> bool:
    return _COMPLAINT.search(text) is not None


def answer_text(article: Article) -> str:
    body = to_text(article.body)
    if len(body) > MAX_ANSWER_CHARS:
        body = body[:MAX_ANSWER_CHARS].rsplit(" ", 1)[0] + " …"
    return f"{article.title}\n\n{body}\n\n{ASK_TEXT}".strip()


def answer_quick_replies(article_id: int) -> tuple[QuickReply, ...]:
    return (
        QuickReply(payloads.kb_helped(article_id), HELPED_LABEL),
        QuickReply(payloads.kb_not_helped(article_id), NOT_HELPED_LABEL),
        QuickReply(payloads.HUMAN, PERSON_LABEL),
    )


class KbAnswerBot:
    """Implements `helpdesk.conversation.AnswerBot`."""

    def __init__(self, kb: KnowledgeBase, threshold: float) -> None:
        self._kb = kb
        self.threshold = threshold

    @property
    def active(self) -> bool:
        return self._kb.has_articles

    async def respond(
        self, session: AsyncSession, ticket: Ticket, message: Message, *, now: datetime
    ) -> None:
        if not self._kb.has_articles:
            return  # no knowledge base: tickets wait for people as without a bot
        waiting = await _pending_answer(session, ticket.id)
        if waiting is not None:
            waiting.outcome = BotAnswerOutcome.SUPERSEDED
            waiting.decided_at = now
            await self._step_aside(
                session, ticket, now, "the customer wrote again after the bot's answer", message
            )
            return
        if message.payload:
            return  # an unknown button: nothing to answer
        if looks_like_complaint(message.text):
            await self._step_aside(
                session, ticket, now, "the message reads as a complaint", message
            )
            return
        language = await session.scalar(
            select(Customer.language).where(Customer.id == ticket.customer_id)
        )
        ranking = await self._kb.ranking(session, message.text, language=language)
        if not ranking.suggestions:
            await self._step_aside(
                session,
                ticket,
                now,
                "no article matches the message",
                message,
                kind=BotDecisionKind.REFUSED,
            )
            return
        best = ranking.suggestions[0]
        article = await session.get(Article, best.article_id)
        if best.confidence < self.threshold or article is None:
            reason = (
                f"no article fits well enough: best article #{best.article_id} {best.title!r} "
                f"at {best.confidence:.2f}, below the threshold {self.threshold:.2f}"
                f"{_weakest(ranking)}"
            )
            await self._step_aside(
                session, ticket, now, reason, message, ranking, kind=BotDecisionKind.REFUSED
            )
            return
        if article.status != ArticleStatus.PUBLISHED:
            await self._step_aside(
                session, ticket, now, "the best article is unpublished", message, ranking
            )
            return
        await self._answer(session, ticket, message, article, ranking, now)

    async def _answer(
        self,
        session: AsyncSession,
        ticket: Ticket,
        message: Message,
        article: Article,
        ranking: Ranking,
        now: datetime,
    ) -> None:
        best = ranking.suggestions[0]
        outcome = await bot_reply(
            session,
            ticket,
            answer_text(article),
            now=now,
            quick_replies=answer_quick_replies(article.id),
        )
        assert outcome.message is not None
        session.add(
            BotAnswer(
                ticket_id=ticket.id,
                article_id=article.id,
                message_id=outcome.message.id,
                confidence=best.confidence,
                reason=best.reason,
                outcome=BotAnswerOutcome.PENDING,
                created_at=now,
            )
        )
        record_decision(
            session,
            ticket,
            message,
            BotDecisionKind.ANSWERED,
            ranking,
            threshold=self.threshold,
            reason=best.reason,
            now=now,
        )
        await kb_articles.count_use(session, article.id)
        audit.automatic(
            session,
            AuthorType.BOT,
            at=now,
            ticket_id=ticket.id,
            action="kb.bot_answered",
            article_id=article.id,
            confidence=best.confidence,
            reason=best.reason,
        )

    async def _step_aside(
        self,
        session: AsyncSession,
        ticket: Ticket,
        now: datetime,
        reason: str,
        message: Message | None = None,
        ranking: Ranking | None = None,
        *,
        kind: BotDecisionKind = BotDecisionKind.HANDED_OVER,
    ) -> None:
        """Hand over, leaving the agent a note of what the bot saw and tried."""
        lines = [f"Bot handed this ticket over: {reason}."]
        for s in ranking.suggestions if ranking is not None else []:
            lines.append(f"• #{s.article_id} {s.title} ({s.confidence:.2f}): {s.reason}")
        record_decision(
            session,
            ticket,
            message,
            kind,
            ranking,
            threshold=self.threshold,
            reason=reason,
            now=now,
        )
        await bot_note(session, ticket, "\n".join(lines), now=now)
        await hand_over(session, ticket, f"bot: {reason}", now=now)

    async def record_vote(
        self,
        session: AsyncSession,
        ticket: Ticket,
        article_id: int,
        helped: bool,
        *,
        now: datetime,
    ) -> None:
        answer = await session.scalar(
            select(BotAnswer)
            .where(
                BotAnswer.ticket_id == ticket.id,
                BotAnswer.article_id == article_id,
                BotAnswer.outcome == BotAnswerOutcome.PENDING,
            )
            .order_by(BotAnswer.id.desc())
            .limit(1)
        )
        if answer is None:
            # A second tap, or a button for an answer this ticket never got: not a vote.
            log.info("ticket #%s: vote on article %s without an open answer", ticket.id, article_id)
            return
        answer.outcome = BotAnswerOutcome.HELPED if helped else BotAnswerOutcome.NOT_HELPED
        answer.decided_at = now
        article = await session.get(Article, article_id)
        if article is not None:
            await kb_articles.vote(session, article, helped)
        audit.record(
            session,
            at=now,
            actor_type=AuthorType.CUSTOMER,
            actor_id=ticket.customer_id,
            ticket_id=ticket.id,
            action="kb.voted",
            article_id=article_id,
            helped=helped,
        )
        if not helped:
            await self._step_aside(
                session, ticket, now, f"the customer said article #{article_id} did not help"
            )
            return
        if ticket.handed_over_at is not None or ticket.status not in OPEN_STATUSES:
            return  # a person already has it: the vote counts, people decide the rest
        ticket.status = TicketStatus.RESOLVED
        ticket.resolved_at = now
        ticket.updated_at = now
        audit.automatic(
            session,
            AuthorType.BOT,
            at=now,
            ticket_id=ticket.id,
            action="ticket.resolved_by_bot",
            article_id=article_id,
            reason="the customer said the bot's article answered the question",
        )
        record(session, TicketChanged(ticket.id, {"status": TicketStatus.RESOLVED.value}))
        await bot_reply(session, ticket, THANKS_TEXT, now=now)


def _weakest(ranking: Ranking) -> str:
    """The signal that fell shortest, in words a supervisor reads."""
    signals = ranking.signals
    if signals is None:
        return ""
    words = {
        "coverage": f"the message's informative words are {signals.coverage:.0%} covered",
        "nearest": f"the nearest known phrasing is only {signals.nearest:.0%} alike",
        "margin": f"a second article is nearly as likely (margin {signals.margin:.2f})",
        "typicality": "the message is unlike the article's known phrasings taken together "
        f"(typicality {signals.typicality:.2f})",
    }
    weakest = min(words, key=lambda name: getattr(signals, name))
    return f"; weakest signal: {words[weakest]}"


async def _pending_answer(session: AsyncSession, ticket_id: int) -> BotAnswer | None:
    return await session.scalar(
        select(BotAnswer)
        .where(BotAnswer.ticket_id == ticket_id, BotAnswer.outcome == BotAnswerOutcome.PENDING)
        .order_by(BotAnswer.id.desc())
        .limit(1)
    )
