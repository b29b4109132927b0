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
from typing import Any

from helpdesk.events.types import (
    AgentPresenceChanged,
    EscalationRaised,
    Event,
    MessageReceived,
    TicketAssigned,
    TicketReleased,
)

log = logging.getLogger(__name__)

# A subscriber that stops reading loses its oldest frames, never the server's memory.
QUEUE_LIMIT = 500

AssigneeLookup = Callable[[int], Awaitable[int | None]]


class LiveFeed:
    def __init__(self, assignee_of: AssigneeLookup) -> None:
        self._assignee_of = assignee_of
        self._subscribers: dict[int, set[asyncio.Queue[dict[str, Any]]]] = {}

    @property
    def subscriber_count(self) -> int:
        return sum(len(queues) for queues in self._subscribers.values())

    @contextlib.asynccontextmanager
    async def subscribe(self, agent_id: int) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._subscribers.setdefault(agent_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._subscribers.get(agent_id, set())
            queues.discard(queue)
            if not queues:
                self._subscribers.pop(agent_id, None)

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
