"""The knowledge base's tables: articles, the index state, the bot's answers."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.storage.base import Base, BigId, enum_column


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class BotAnswerOutcome(enum.StrEnum):
    PENDING = "pending"
    HELPED = "helped"
    NOT_HELPED = "not_helped"
    SUPERSEDED = "superseded"


class Article(Base):
    """A knowledge-base article. `slug` names its file on import and export."""

    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(16), default="en")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Questions customers ask that this article answers: what the ranking learns from.
    phrasings: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[ArticleStatus] = mapped_column(
        enum_column(ArticleStatus), default=ArticleStatus.DRAFT, index=True
    )
    helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    not_helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class KbState(Base):
    """One row whose version grows with every change to the articles: each process rebuilds
    its suggestion index when it sees a version it has not built."""

    __tablename__ = "kb_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class BotAnswer(Base):
    """An article the bot sent on a ticket, and what the customer said about it."""

    __tablename__ = "kb_bot_answers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="SET NULL")
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    confidence: Mapped[float]
    reason: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[BotAnswerOutcome] = mapped_column(
        enum_column(BotAnswerOutcome), default=BotAnswerOutcome.PENDING
    )
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class ArticleVote(Base):
    """One agent's vote on one article: an agent votes once per article."""

    __tablename__ = "kb_article_votes"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    helpful: Mapped[bool]
    voted_at: Mapped[datetime]


class BotDecisionKind(enum.StrEnum):
    ANSWERED = "answered"
    # No article fitted the question well enough: what a supervisor may write an article for.
    REFUSED = "refused"
    # Stepped aside for another reason: a complaint, a second message, "did not help".
    HANDED_OVER = "handed_over"


class BotDecision(Base):
    """What the bot decided on a customer message, and the evidence it weighed."""

    __tablename__ = "kb_bot_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    kind: Mapped[BotDecisionKind] = mapped_column(enum_column(BotDecisionKind), index=True)
    # The best article the ranking found (answered with, or refused as not good enough).
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="SET NULL")
    )
    confidence: Mapped[float | None]
    threshold: Mapped[float]
    # Signal name to value (probability, margin, nearest, coverage), empty when none were
    # computed (a complaint, a second message).
    signals: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    # The draft article a supervisor made from this refused question.
    draft_article_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_articles.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(index=True)
