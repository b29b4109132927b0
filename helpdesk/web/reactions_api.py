"""The reactions to events, as this process sees them (supervisors, admins): how far each has
got, how many events wait for it, how many it had to set aside."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from helpdesk.web.auth import Overseer
from helpdesk.web.dependencies import runtime_of

router = APIRouter(prefix="/api/reactions", tags=["events"])


class ReactionOut(BaseModel):
    name: str
    event_types: list[str]
    checkpoint: int
    waiting: int
    failures: int


@router.get("", response_model=list[ReactionOut])
async def reactions(request: Request, _agent: Overseer) -> list[ReactionOut]:
    """Each reaction's checkpoint, the events still waiting for it, and its failures (the
    events it gave up on are in `reaction_failures` with their errors)."""
    statuses = await runtime_of(request).events.status()
    return [
        ReactionOut(
            name=s.name,
            event_types=s.event_types,
            checkpoint=s.checkpoint,
            waiting=s.waiting,
            failures=s.failures,
        )
        for s in statuses
    ]
