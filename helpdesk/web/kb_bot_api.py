"""The answer bot in the agent API: its decisions on a ticket (with the signals behind them),
its report for supervisors, and turning a question it refused into a draft article."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from helpdesk.kb.articles import ArticleError
from helpdesk.kb.decisions import DecisionError, draft_from_refused
from helpdesk.kb.models import BotDecision, BotDecisionKind
from helpdesk.kb.report import bot_report
from helpdesk.tickets.visibility import TicketNotFound, visible_ticket
from helpdesk.web.auth import CurrentAgent, Overseer
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.kb_api import ArticleOut, article_out
from helpdesk.web.schemas import MAX_ID, CleanStr

router = APIRouter(prefix="/api", tags=["knowledge base"])
DecisionId = Annotated[int, Path(ge=1, le=MAX_ID, description="The bot decision's id")]
TicketNumber = Annotated[int, Path(ge=1, le=MAX_ID, description="The ticket number")]


class DecisionOut(BaseModel):
    id: int
    message_id: int | None
    kind: BotDecisionKind
    article_id: int | None = Field(description="The best article the ranking found")
    confidence: float | None
    threshold: float = Field(description="The bot threshold at the time")
    signals: dict[str, float] = Field(
        description="probability, margin, nearest and coverage of the best article, 0 to 1"
    )
    reason: str
    draft_article_id: int | None
    created_at: datetime


class RefusedQuestionOut(BaseModel):
    text: str
    times: int = Field(description="How often customers asked it (same words, any case)")
    last_at: datetime
    decision_id: int = Field(description="The latest refusal: make a draft article from it")
    ticket_id: int
    best_article_id: int | None
    best_title: str | None
    confidence: float | None
    signals: dict[str, float]
    draft_article_id: int | None


class BotReportOut(BaseModel):
    decisions: dict[str, int] = Field(description="answered, refused, handed_over")
    answers: dict[str, int] = Field(
        description="The bot's answers by the customer's vote: helped, not_helped, pending "
        "(no vote yet), superseded (the customer wrote again), and total"
    )
    hand_overs: int
    refused: int
    questions: list[RefusedQuestionOut] = Field(description="Refused questions, most asked first")


class DraftFromRefusedIn(BaseModel):
    title: CleanStr | None = Field(None, min_length=1, max_length=200)


@router.get("/tickets/{number}/kb/decisions", response_model=list[DecisionOut])
async def ticket_decisions(
    number: TicketNumber, agent: CurrentAgent, request: Request
) -> list[DecisionOut]:
    """What the bot decided on each customer message of the ticket, oldest first."""
    async with runtime_of(request).db.read() as session:
        try:
            ticket = await visible_ticket(session, agent, number)
        except TicketNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ticket #{number}") from None
        rows = await session.scalars(
            select(BotDecision).where(BotDecision.ticket_id == ticket.id).order_by(BotDecision.id)
        )
        return [DecisionOut.model_validate(d, from_attributes=True) for d in rows]


@router.get("/kb/bot/report", response_model=BotReportOut)
async def report(
    _agent: Overseer,
    request: Request,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> BotReportOut:
    """The bot's answers, votes, hand-overs and refused questions (supervisors and admins)."""
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            raise HTTPException(422, "since and until need a time zone, e.g. 2026-01-31T00:00Z")
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        found = await bot_report(
            session, since=since, until=until, limit=limit, scan=runtime.kb.settings.report_scan
        )
    return BotReportOut.model_validate(found, from_attributes=True)


@router.post("/kb/bot/refused/{decision_id}/draft", response_model=ArticleOut, status_code=201)
async def draft_from_question(
    decision_id: DecisionId, body: DraftFromRefusedIn, _agent: Overseer, request: Request
) -> ArticleOut:
    """A draft article with the refused question as its first known phrasing; write the body,
    add phrasings and publish it, and the bot answers that question from then on."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        try:
            article = await draft_from_refused(
                session, decision_id, title=body.title, now=runtime.clock.now()
            )
        except LookupError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except (DecisionError, ArticleError) as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        out = article_out(article)
    return out
