"""The answer bot's report for supervisors: what it answered, how customers voted, when it
handed over and which questions it refused, most asked first, so that the frequent ones can
become articles."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.kb.models import (
    Article,
    BotAnswer,
    BotAnswerOutcome,
    BotDecision,
    BotDecisionKind,
)
from helpdesk.tickets.models import Message

_NOT_WORD = re.compile(r"[^\w]+")


@dataclass(frozen=True, slots=True)
class RefusedQuestion:
    """One question as customers asked it (compared without case and punctuation)."""

    text: str
    times: int
    last_at: datetime
    # The latest of them: the one a draft article is made from.
    decision_id: int
    ticket_id: int
    best_article_id: int | None
    best_title: str | None
    confidence: float | None
    signals: dict[str, float]
    draft_article_id: int | None


@dataclass(frozen=True, slots=True)
class BotReport:
    decisions: dict[str, int]
    answers: dict[str, int]
    hand_overs: int
    refused: int
    questions: list[RefusedQuestion] = field(default_factory=list)


def _same_question(text: str) -> str:
    return _NOT_WORD.sub(" ", text.lower()).strip()


async def bot_report(
    session: AsyncSession,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    scan: int = 5000,
) -> BotReport:
    """Counts over the period, and up to `limit` refused questions grouped by their words,
    from the latest `scan` refusals (the report stays quick however long the bot has run)."""
    window: list[ColumnElement[bool]] = []
    answer_window: list[ColumnElement[bool]] = []
    if since is not None:
        window.append(BotDecision.created_at >= since)
        answer_window.append(BotAnswer.created_at >= since)
    if until is not None:
        window.append(BotDecision.created_at < until)
        answer_window.append(BotAnswer.created_at < until)
    kinds = dict(
        (
            await session.execute(
                select(BotDecision.kind, func.count()).where(*window).group_by(BotDecision.kind)
            )
        )
        .tuples()
        .all()
    )
    decisions = {k.value: int(kinds.get(k, 0)) for k in BotDecisionKind}
    outcomes = dict(
        (
            await session.execute(
                select(BotAnswer.outcome, func.count())
                .where(*answer_window)
                .group_by(BotAnswer.outcome)
            )
        )
        .tuples()
        .all()
    )
    answers = {o.value: int(outcomes.get(o, 0)) for o in BotAnswerOutcome}
    answers["total"] = sum(answers.values())
    rows = (
        (
            await session.execute(
                select(BotDecision, Message.text, Article.title)
                .outerjoin(Message, Message.id == BotDecision.message_id)
                .outerjoin(Article, Article.id == BotDecision.article_id)
                .where(BotDecision.kind == BotDecisionKind.REFUSED, *window)
                .order_by(BotDecision.created_at.desc(), BotDecision.id.desc())
                .limit(scan)
            )
        )
        .tuples()
        .all()
    )
    groups: dict[str, list[tuple[BotDecision, str, str | None]]] = {}
    for decision, text, title in rows:
        key = _same_question(text or "")
        if key:
            groups.setdefault(key, []).append((decision, text or "", title))
    questions = [
        _question(members)
        for members in sorted(groups.values(), key=lambda m: (-len(m), -m[0][0].id))[:limit]
    ]
    return BotReport(
        decisions=decisions,
        answers=answers,
        hand_overs=decisions[BotDecisionKind.HANDED_OVER.value],
        refused=decisions[BotDecisionKind.REFUSED.value],
        questions=questions,
    )


def _question(members: list[tuple[BotDecision, str, str | None]]) -> RefusedQuestion:
    latest, text, title = members[0]  # newest first
    drafted = next((d.draft_article_id for d, _, _ in members if d.draft_article_id), None)
    return RefusedQuestion(
        text=" ".join(text.split()),
        times=len(members),
        last_at=latest.created_at,
        decision_id=latest.id,
        ticket_id=latest.ticket_id,
        best_article_id=latest.article_id,
        best_title=title,
        confidence=latest.confidence,
        signals=dict(latest.signals or {}),
        draft_article_id=drafted,
    )
