"""The bot's decisions on the record: one row per customer message it weighed, with the signals
behind it, so that a supervisor can see why it answered or stepped aside and turn the questions
it could not answer into articles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.kb import articles as kb_articles
from helpdesk.kb.articles import ArticleFields
from helpdesk.kb.index import Ranking
from helpdesk.kb.models import Article, ArticleStatus, BotDecision, BotDecisionKind
from helpdesk.tickets.models import Message, Ticket


class DecisionError(Exception):
    """A draft asked of a decision that cannot give one, in words for the caller."""


def record_decision(
    session: AsyncSession,
    ticket: Ticket,
    message: Message | None,
    kind: BotDecisionKind,
    ranking: Ranking | None,
    *,
    threshold: float,
    reason: str,
    now: datetime,
) -> BotDecision:
    best = ranking.suggestions[0] if ranking is not None and ranking.suggestions else None
    signals = ranking.signals.as_dict() if ranking is not None and ranking.signals else {}
    if ranking is not None and ranking.repaired:
        reason += "; read " + ", ".join(
            f"{typed!r} as {read!r}" for typed, read in ranking.repaired
        )
    decision = BotDecision(
        ticket_id=ticket.id,
        message_id=message.id if message is not None else None,
        kind=kind,
        article_id=best.article_id if best is not None else None,
        confidence=best.confidence if best is not None else None,
        threshold=threshold,
        signals=signals,
        reason=reason[:4000],
        created_at=now,
    )
    session.add(decision)
    return decision


async def draft_from_refused(
    session: AsyncSession, decision_id: int, *, title: str | None, now: datetime
) -> Article:
    """A draft article whose first known phrasing is the question the bot refused; the
    decision remembers it, so the report shows the question as taken care of."""
    decision = await session.get(BotDecision, decision_id)
    if decision is None or decision.kind != BotDecisionKind.REFUSED:
        raise LookupError(f"no refused question {decision_id}")
    if decision.draft_article_id is not None:
        raise DecisionError(
            f"refused question {decision_id} already has draft article {decision.draft_article_id}"
        )
    message = await session.get(Message, decision.message_id) if decision.message_id else None
    question = " ".join((message.text if message is not None else "").split())
    if not question:
        raise DecisionError(f"refused question {decision_id}: the message has no text left")
    phrasing = question[: kb_articles.MAX_PHRASING_CHARS]
    fields = ArticleFields(
        title=(title or phrasing)[:200],
        body="",
        phrasings=[phrasing],
        status=ArticleStatus.DRAFT,
    )
    article = await kb_articles.create(session, fields, now=now)
    decision.draft_article_id = article.id
    return article
