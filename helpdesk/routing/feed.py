"""The agent's live feed: what each signed-in agent's workspace is told as it happens (new
assignments, customers' messages on their tickets, their own presence).

Every process keeps the subscribers connected to it. The feed is fed by broadcasts of the
durable event log (`event_table` in helpdesk/runtime.py), which every process reads and which
PostgreSQL's NOTIFY wakes, so an assignment made by any process reaches the agent wherever
their browser is connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from helpdesk.events.types import (
    AgentPresenceChanged,
    DeliveryChanged,
    EscalationRaised,
    Event,
    MessageReceived,
    NoteAdded,
    ReplyQueued,
    SatisfactionRated,
    SlaTimersChanged,
    TicketAssigned,
    TicketChanged,
    TicketCreated,
    TicketReleased,
    TicketReopened,
    TicketsMerged,
)

log = logging.getLogger(__name__)

# A subscriber that stops reading loses its oldest frames, never the server's memory.
QUEUE_LIMIT = 500

AssigneeLookup = Callable[[int], Awaitable[int | None]]
# A ticket's (assignee id, team id), or None when it is gone.
PlaceLookup = Callable[[int], Awaitable[tuple[int | None, int | None] | None]]


def _ticket_of(event: Event) -> int | None:
    """The ticket a workspace showing it (the queue, the ticket page) reads again after this
    event, told as a `ticket` frame to every subscriber who may see the ticket."""
    if isinstance(event, TicketsMerged):
        return event.survivor_id
    if isinstance(
        event,
        MessageReceived
        | TicketCreated
        | TicketChanged
        | TicketAssigned
        | TicketReleased
        | TicketReopened
        | ReplyQueued
        | NoteAdded
        | DeliveryChanged
        | SatisfactionRated
        | SlaTimersChanged,
    ):
        return event.ticket_id
    return None


@dataclass(frozen=True, slots=True)
class Sight:
    """Which tickets a subscriber may be told about: the rule of `tickets.visibility`
    (everything for supervisors and admins; else its own, its teams' and unrouted ones)."""

    everything: bool = False
    team_ids: frozenset[int] = frozenset()

    def sees(self, agent_id: int, assignee_id: int | None, team_id: int | None) -> bool:
        if self.everything or assignee_id == agent_id:
            return True
        if team_id is None:
            return assignee_id is None
        return team_id in self.team_ids


class LiveFeed:
    def __init__(self, assignee_of: AssigneeLookup, place_of: PlaceLookup | None = None) -> None:
        self._assignee_of = assignee_of
        self._place_of = place_of
        self._subscribers: dict[int, set[asyncio.Queue[dict[str, Any]]]] = {}
        # Subscribers that asked for `ticket` frames, with what they may see.
        self._sights: dict[int, Sight] = {}

    @property
    def subscriber_count(self) -> int:
        return sum(len(queues) for queues in self._subscribers.values())

    @contextlib.asynccontextmanager
    async def subscribe(
        self, agent_id: int, sight: Sight | None = None
    ) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """With a `sight`, the subscriber is also told of every change to a ticket it may see."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._subscribers.setdefault(agent_id, set()).add(queue)
        if sight is not None:
            self._sights[agent_id] = sight
        try:
            yield queue
        finally:
            queues = self._subscribers.get(agent_id, set())
            queues.discard(queue)
            if not queues:
                self._subscribers.pop(agent_id, None)
                self._sights.pop(agent_id, None)

    def push(self, agent_id: int, frame: dict[str, Any]) -> None:
        for queue in self._subscribers.get(agent_id, ()):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(frame)

    async def on_event(self, event: Event) -> None:
        """The broadcast handler: runs in every process for the events below."""
        if not self._subscribers:
            return
        if self._sights and (ticket_id := _ticket_of(event)) is not None:
            await self._tell_watchers(event, ticket_id)
        if isinstance(event, TicketAssigned):
            frame = {
                "type": "assigned",
                "ticket": event.ticket_id,
                "by": event.by,
                "previous_agent_id": event.previous_agent_id,
            }
            self.push(event.agent_id, frame)
            if event.previous_agent_id is not None:
                self.push(
                    event.previous_agent_id, {"type": "unassigned", "ticket": event.ticket_id}
                )
        elif isinstance(event, TicketReleased):
            frame = {"type": "unassigned", "ticket": event.ticket_id, "reason": event.reason}
            self.push(event.agent_id, frame)
        elif isinstance(event, AgentPresenceChanged):
            self.push(event.agent_id, {"type": "presence", "presence": event.presence})
        elif isinstance(event, EscalationRaised):
            frame = {
                "type": "escalation",
                "ticket": event.ticket_id,
                "escalation": event.escalation_id,
                "level": event.level,
                "reason": event.reason,
            }
            for recipient in event.recipients:
                self.push(recipient, frame)
        elif isinstance(event, MessageReceived):
            agent_id = await self._assignee_of(event.ticket_id)
            if agent_id is not None and agent_id in self._subscribers:
                frame = {
                    "type": "message",
                    "ticket": event.ticket_id,
                    "message": event.message_id,
                    "preview": event.text[:200],
                }
                self.push(agent_id, frame)

    async def _tell_watchers(self, event: Event, ticket_id: int) -> None:
        place = await self._place_of(ticket_id) if self._place_of is not None else None
        if place is None:
            return
        assignee_id, team_id = place
        frame: dict[str, Any] = {
            "type": "ticket",
            "ticket": ticket_id,
            "what": type(event).__name__,
            "new": isinstance(event, TicketCreated),
        }
        for agent_id, sight in list(self._sights.items()):
            if sight.sees(agent_id, assignee_id, team_id):
                self.push(agent_id, frame)
