"""What the email survey's page does with a click or a form: the rules of "once per ticket".

The first click records the score. For `conversation.rating_change_minutes` after that first
rating the page still takes a change of mind (a different score), the recommend answer and one
comment; after that every use of the link answers "already rated, thank you" and changes
nothing. The window is counted from the first rating, so changing a score does not extend it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.sanitize import clean_text
from helpdesk.conversation.satisfaction import record_recommendation, record_satisfaction
from helpdesk.events.types import SatisfactionRated
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.models import AuditEntry, AuthorType, Ticket


class Verdict(enum.StrEnum):
    RECORDED = "recorded"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    # Rated before and the change window has passed: nothing changes.
    ALREADY = "already"
    # The ticket is gone (erased) or the answer makes no sense (a comment before a rating).
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class PageState:
    """What the page shows after the request: the ticket's answers and what may still change."""

    verdict: Verdict
    ticket_id: int
    score: int | None = None
    recommend_score: int | None = None
    comment: str | None = None
    open_for_changes: bool = False


class SurveyAnswers:
    def __init__(self, change_window: timedelta, comment_max_chars: int) -> None:
        self._window = change_window
        self._max_chars = comment_max_chars

    async def rate(
        self, session: AsyncSession, ticket_id: int, score: int, *, now: datetime
    ) -> PageState:
        ticket = await session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is None:
            return PageState(Verdict.REFUSED, ticket_id)
        if ticket.satisfaction is None:
            await record_satisfaction(session, ticket, score, now=now, thank=False)
            return await self._state(session, ticket, Verdict.RECORDED, now)
        if not await self._open(session, ticket, now):
            return await self._state(session, ticket, Verdict.ALREADY, now)
        if ticket.satisfaction == score:
            return await self._state(session, ticket, Verdict.UNCHANGED, now)
        # A change of mind: the score changes, its time (and so the window) stays the first's.
        ticket.satisfaction = score
        audit.record(
            session,
            at=now,
            actor_type=AuthorType.CUSTOMER,
            actor_id=ticket.customer_id,
            ticket_id=ticket.id,
            action="ticket.rating_changed",
            score=score,
        )
        record(session, SatisfactionRated(ticket.id, score))
        return await self._state(session, ticket, Verdict.CHANGED, now)

    async def recommend(
        self, session: AsyncSession, ticket_id: int, score: int, *, now: datetime
    ) -> PageState:
        ticket = await session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is None or ticket.satisfaction is None:
            return PageState(Verdict.REFUSED, ticket_id)
        if not await self._open(session, ticket, now):
            return await self._state(session, ticket, Verdict.ALREADY, now)
        verdict = Verdict.RECORDED if ticket.recommend_score is None else Verdict.CHANGED
        await record_recommendation(session, ticket, score, now=now, thank=False)
        return await self._state(session, ticket, verdict, now)

    async def comment(
        self, session: AsyncSession, ticket_id: int, text: str, *, now: datetime
    ) -> PageState:
        """One comment per rating; an empty one changes nothing."""
        ticket = await session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is None or ticket.satisfaction is None:
            return PageState(Verdict.REFUSED, ticket_id)
        if ticket.satisfaction_comment is not None or not await self._open(session, ticket, now):
            return await self._state(session, ticket, Verdict.ALREADY, now)
        text = clean_text(text).strip()[: self._max_chars]
        if not text:
            return await self._state(session, ticket, Verdict.UNCHANGED, now)
        ticket.satisfaction_comment = text
        audit.record(
            session,
            at=now,
            actor_type=AuthorType.CUSTOMER,
            actor_id=ticket.customer_id,
            ticket_id=ticket.id,
            action="ticket.rating_commented",
            chars=len(text),
        )
        return await self._state(session, ticket, Verdict.RECORDED, now)

    async def look(self, session: AsyncSession, ticket_id: int, *, now: datetime) -> PageState:
        """The page opened without a score: what was answered so far."""
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return PageState(Verdict.REFUSED, ticket_id)
        verdict = Verdict.UNCHANGED if ticket.satisfaction is not None else Verdict.RECORDED
        return await self._state(session, ticket, verdict, now)

    async def _first_rated_at(self, session: AsyncSession, ticket: Ticket) -> datetime | None:
        return await session.scalar(
            select(AuditEntry.at)
            .where(AuditEntry.ticket_id == ticket.id, AuditEntry.action == "ticket.rated")
            .order_by(AuditEntry.id)
            .limit(1)
        )

    async def _open(self, session: AsyncSession, ticket: Ticket, now: datetime) -> bool:
        first = await self._first_rated_at(session, ticket) or ticket.satisfaction_at
        return first is not None and now - first <= self._window

    async def _state(
        self, session: AsyncSession, ticket: Ticket, verdict: Verdict, now: datetime
    ) -> PageState:
        return PageState(
            verdict,
            ticket.id,
            score=ticket.satisfaction,
            recommend_score=ticket.recommend_score,
            comment=ticket.satisfaction_comment,
            open_for_changes=await self._open(session, ticket, now),
        )
