"""Complaints in the API: the root causes to choose from, the detector's suggestions, and an
agent marking (or confirming, or dismissing) a complaint."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from helpdesk.conversation import complaints
from helpdesk.tickets.models import ComplaintSuggestion
from helpdesk.tickets.visibility import TicketNotFound, visible_ticket
from helpdesk.web.auth import CurrentAgent
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID

router = APIRouter(prefix="/api", tags=["complaints"])


class SuggestionOut(BaseModel):
    id: int
    ticket: int
    message_id: int
    score: float
    reason: str
    created_at: datetime
    decided_at: datetime | None
    confirmed: bool | None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm: bool = True


@router.get("/complaints/causes", response_model=list[str])
async def causes(request: Request, _agent: CurrentAgent) -> list[str]:
    """The root causes a complaint is resolved with (a setting)."""
    return list(runtime_of(request).settings.conversation.complaint_root_causes)


@router.get("/complaints/suggestions", response_model=list[SuggestionOut])
async def suggestions(
    request: Request,
    agent: CurrentAgent,
    open_only: Annotated[bool, Query(alias="open")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SuggestionOut]:
    """Messages the detector thinks are complaints, newest first, with its reasons."""
    query = select(ComplaintSuggestion).order_by(ComplaintSuggestion.id.desc()).limit(limit)
    if open_only:
        query = query.where(ComplaintSuggestion.decided_at.is_(None))
    async with runtime_of(request).db.read() as session:
        rows = list(await session.scalars(query))
        shown = []
        for row in rows:
            try:
                await visible_ticket(session, agent, row.ticket_id)
            except TicketNotFound:
                continue
            shown.append(
                SuggestionOut(
                    id=row.id,
                    ticket=row.ticket_id,
                    message_id=row.message_id,
                    score=row.score,
                    reason=row.reason,
                    created_at=row.created_at,
                    decided_at=row.decided_at,
                    confirmed=row.confirmed,
                )
            )
        return shown


@router.post("/tickets/{number}/complaint", status_code=204)
async def decide(
    number: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: DecisionIn,
    agent: CurrentAgent,
    request: Request,
) -> None:
    """`{"confirm": true}` marks the ticket as a complaint (confirming a suggestion if there is
    one); `{"confirm": false}` dismisses the suggestion."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        try:
            ticket = await visible_ticket(session, agent, number)
        except TicketNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ticket #{number}") from None
        await complaints.decide(
            session, agent, ticket, confirm=body.confirm, now=runtime.clock.now()
        )
