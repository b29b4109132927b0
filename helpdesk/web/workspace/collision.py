"""Collision detection: who else has this ticket open, and who is typing a reply on it.

Kept in memory in each process: an open ticket page says "viewing" every few seconds (and
"typing" as keys are pressed), and the others viewing the ticket are told at once through
their live feed (`LiveFeed.push`). The state is seconds old at most and worthless after a
restart, so it is stored nowhere. With several processes on PostgreSQL the pages of one ticket
see each other only when their requests reach the same process (a load balancer with sticky
sessions gives that); docs/workspace.md says so."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from pydantic import BaseModel

from helpdesk.tickets.visibility import TicketNotFound, visible_ticket
from helpdesk.web.auth import CurrentAgent
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID


@dataclass(slots=True)
class _Viewer:
    name: str
    seen: float
    typing_until: float = 0.0


@dataclass(slots=True)
class Viewers:
    """ticket -> agent id -> what that agent's page last said."""

    by_ticket: dict[int, dict[int, _Viewer]] = field(default_factory=dict)

    def update(
        self,
        ticket: int,
        agent_id: int,
        name: str,
        *,
        typing: bool,
        leaving: bool,
        now: float,
        typing_for: float,
    ) -> bool:
        """Record what the page said; True when what others see changed."""
        viewers = self.by_ticket.setdefault(ticket, {})
        before = viewers.get(agent_id)
        was = (before is not None, before is not None and before.typing_until > now)
        if leaving:
            viewers.pop(agent_id, None)
            if not viewers:
                self.by_ticket.pop(ticket, None)
            return was[0]
        viewer = before or _Viewer(name, now)
        viewer.seen = now
        if typing:
            viewer.typing_until = now + typing_for
        elif viewer.typing_until > now:
            viewer.typing_until = 0.0
        viewers[agent_id] = viewer
        return was != (True, viewer.typing_until > now)

    def others(
        self, ticket: int, agent_id: int, *, now: float, timeout: float
    ) -> list[dict[str, Any]]:
        viewers = self.by_ticket.get(ticket, {})
        for gone in [a for a, v in viewers.items() if now - v.seen > timeout]:
            del viewers[gone]
        return [
            {"agent_id": a, "name": v.name, "typing": v.typing_until > now}
            for a, v in sorted(viewers.items())
            if a != agent_id
        ]

    def watching(self, ticket: int) -> list[int]:
        return list(self.by_ticket.get(ticket, {}))


class ViewingIn(BaseModel):
    typing: bool = False
    leaving: bool = False


router = APIRouter(include_in_schema=False)


def viewers_of(request: Request) -> Viewers:
    state = request.app.state
    if not hasattr(state, "ticket_viewers"):
        state.ticket_viewers = Viewers()
    viewers: Viewers = state.ticket_viewers
    return viewers


@router.post("/workspace/tickets/{number}/viewing")
async def viewing(
    number: Annotated[int, Path(ge=1, le=MAX_ID)],
    agent: CurrentAgent,
    request: Request,
    body: Annotated[ViewingIn, Body()],
) -> dict[str, Any]:
    """The page says it is open (and whether its agent is typing); the answer names the others.
    Cookie requests need the X-CSRF-Token header (the API's rule)."""
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        try:
            await visible_ticket(session, agent, number)
        except TicketNotFound:
            from fastapi import HTTPException

            raise HTTPException(404, f"no ticket #{number}") from None
    settings = runtime.settings.workspace
    registry = viewers_of(request)
    now = time.monotonic()
    changed = registry.update(
        number,
        agent.id,
        agent.name,
        typing=body.typing,
        leaving=body.leaving,
        now=now,
        typing_for=settings.typing_timeout_seconds,
    )
    timeout = settings.viewer_timeout_seconds
    if changed:
        for other in registry.watching(number):
            if other != agent.id:
                frame = {
                    "type": "viewers",
                    "ticket": number,
                    "viewers": registry.others(number, other, now=now, timeout=timeout),
                }
                runtime.live_feed.push(other, frame)
    return {"viewers": registry.others(number, agent.id, now=now, timeout=timeout)}
