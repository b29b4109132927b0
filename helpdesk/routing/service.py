"""Routing's reactions and background work: route on the events in the event table, drain the
holding queue when agents come online or free capacity, and watch presence.

Reactions run in the dispatcher's transaction (once each, whichever process claims them). The
drain and the presence sweep run in every process and claim their work with row locks, so
several processes share them safely.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.background import BackgroundTask, wait_for_event
from helpdesk.common.clock import Clock
from helpdesk.events.types import (
    AgentDisabled,
    AgentOfflinePastGrace,
    AgentPresenceChanged,
    Event,
    TicketChanged,
    TicketCreated,
    TicketHandedOver,
    TicketReopened,
)
from helpdesk.routing.manual import AssignmentError
from helpdesk.routing.models import HeldTicket, Presence, RoutingProfile, short_trigger
from helpdesk.routing.profiles import effective_presence, exact_loads
from helpdesk.routing.queries import unattended
from helpdesk.routing.release import release
from helpdesk.routing.router import Routed, Router
from helpdesk.routing.settings import RoutingSettings
from helpdesk.staff.models import Agent
from helpdesk.storage.database import Database
from helpdesk.storage.event_log import record
from helpdesk.tickets.models import OPEN_STATUSES, Ticket

log = logging.getLogger(__name__)

# The safety net leaves tickets changed this recently to the reactions that are on their way.
CATCH_UP_AFTER_SECONDS = 30.0

# Changes to a ticket after which its agent may have room for another.
_FREES_CAPACITY = {"status", "assignee_id"}


class RoutingService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: RoutingSettings,
        *,
        bot_answers: Callable[[str], bool] = lambda _channel: False,
        key_tier: str = "key",
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.router = Router(settings, is_sqlite=db.is_sqlite, key_tier=key_tier)
        # Whether the answer bot takes a new ticket of this channel first (then routing waits
        # for the hand-over).
        self._bot_answers = bot_answers
        self._wake = asyncio.Event()
        self._tasks = [
            BackgroundTask("routing-drain", self._drain_loop),
            BackgroundTask("routing-presence", self._sweep_loop),
        ]

    def start(self) -> None:
        if not self.settings.enabled:
            return
        for task in self._tasks:
            task.start()

    async def stop(self) -> None:
        for task in self._tasks:
            await task.stop()

    # --- the reactions (see `event_table` in helpdesk/runtime.py) ---------------------------

    def wanted(self, event: Event) -> bool:
        if not self.settings.enabled:
            return False
        if isinstance(event, TicketCreated):
            return event.automatic is None and not self._bot_answers(event.channel)
        return True

    async def on_events(self, session: AsyncSession, events: Sequence[Event]) -> None:
        """A round of events in order; each run of new tickets is routed in one go, as
        `Router.route` places a list of tickets with one read of the rules and the agents."""
        new: list[int] = []
        for event in events:
            if isinstance(event, TicketCreated):
                new.append(event.ticket_id)
                continue
            if new:
                await self.router.route(session, new, "new ticket", now=self.clock.now())
                new = []
            await self.on_event(session, event)
        if new:
            await self.router.route(session, new, "new ticket", now=self.clock.now())

    async def on_event(self, session: AsyncSession, event: Event) -> None:
        now = self.clock.now()
        if isinstance(event, TicketCreated):
            await self.router.route(session, [event.ticket_id], "new ticket", now=now)
        elif isinstance(event, TicketHandedOver):
            await self.router.route(
                session, [event.ticket_id], short_trigger(f"hand-over: {event.reason}"), now=now
            )
        elif isinstance(event, TicketReopened):
            await self._reopened(session, event.ticket_id)
        elif isinstance(event, AgentOfflinePastGrace):
            await self.take_back(
                session, event.agent_id, "offline past the grace period", unanswered_only=True
            )
        elif isinstance(event, AgentDisabled):
            await self.take_back(session, event.agent_id, "agent disabled", unanswered_only=False)

    async def take_back(
        self, session: AsyncSession, agent_id: int, reason: str, *, unanswered_only: bool
    ) -> Routed:
        now = self.clock.now()
        ids = await release(session, agent_id, reason, now=now, unanswered_only=unanswered_only)
        return await self.router.route(
            session, ids, reason, now=now, exclude=dict.fromkeys(ids, agent_id)
        )

    async def hand_back(self, session: AsyncSession, agent: Agent, ticket: Ticket) -> Routed:
        """The agent gives the ticket back; it goes to someone else or waits."""
        if ticket.assignee_id != agent.id:
            raise AssignmentError(f"ticket #{ticket.id} is not assigned to you")
        return await self._reroute(session, ticket, agent.id, f"handed back by {agent.name}")

    async def unassign(self, session: AsyncSession, actor: Agent, ticket: Ticket) -> Routed:
        """Someone cleared the assignee: the ticket is routed to another agent or waits, so it
        is never left neither assigned nor held."""
        if ticket.assignee_id is None:
            return Routed()
        reason = f"unassigned by {actor.name}"
        return await self._reroute(session, ticket, ticket.assignee_id, reason)

    async def _reroute(
        self, session: AsyncSession, ticket: Ticket, agent_id: int, reason: str
    ) -> Routed:
        now = self.clock.now()
        ids = await release(
            session, agent_id, reason, now=now, unanswered_only=False, ticket_ids=[ticket.id]
        )
        return await self.router.route(
            session, ids, reason, now=now, exclude=dict.fromkeys(ids, agent_id)
        )

    async def _reopened(self, session: AsyncSession, ticket_id: int) -> None:
        """A reopened ticket stays with its agent if they can still take it; otherwise it is
        routed again."""
        now = self.clock.now()
        ticket = await session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is None or ticket.status not in OPEN_STATUSES:
            return
        if ticket.assignee_id is not None:
            agent = await session.get(Agent, ticket.assignee_id)
            profile = await session.get(RoutingProfile, ticket.assignee_id)
            timeout = timedelta(seconds=self.settings.heartbeat_timeout_seconds)
            if (
                agent is not None
                and agent.active
                and profile is not None
                and effective_presence(profile, now, timeout) != Presence.OFFLINE
            ):
                return
            await release(
                session,
                ticket.assignee_id,
                "reopened while the agent is away",
                now=now,
                unanswered_only=False,
                ticket_ids=[ticket_id],
            )
        await self.router.route(session, [ticket_id], "reopened", now=now)

    # --- waking the drain (broadcasts: every process) --------------------------------------

    def frees_or_adds_capacity(self, event: Event) -> bool:
        if isinstance(event, AgentPresenceChanged):
            return event.presence == Presence.ONLINE.value
        if isinstance(event, TicketChanged):
            return not _FREES_CAPACITY.isdisjoint(event.changes)
        return True

    async def on_capacity_event(self, event: Event) -> None:
        if self.frees_or_adds_capacity(event):
            self._wake.set()

    # --- the holding queue ------------------------------------------------------------------

    async def _drain_loop(self) -> None:
        while True:
            await wait_for_event(self._wake, self.settings.sweep_seconds)
            self._wake.clear()
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("draining the holding queue failed; trying again")

    async def drain(self) -> int:
        """Give held tickets to agents who can take them, most urgent and oldest first, a
        batch per transaction, until the queue ends or nobody has room. Returns how many."""
        assigned = 0
        after: tuple[int, object, int] | None = None
        while True:
            async with self.db.transaction() as session:
                if not await self._anyone_has_room(session):
                    return assigned
                query = select(HeldTicket.ticket_id, HeldTicket.urgency, HeldTicket.held_since)
                if after is not None:
                    query = query.where(
                        tuple_(HeldTicket.urgency, HeldTicket.held_since, HeldTicket.ticket_id)
                        > after
                    )
                rows = (
                    await session.execute(
                        query.order_by(
                            HeldTicket.urgency, HeldTicket.held_since, HeldTicket.ticket_id
                        ).limit(self.settings.drain_batch)
                    )
                ).all()
                if not rows:
                    return assigned
                after = (rows[-1].urgency, rows[-1].held_since, rows[-1].ticket_id)
                routed = await self.router.route(
                    session,
                    [row.ticket_id for row in rows],
                    "holding queue",
                    now=self.clock.now(),
                    skip_locked=True,
                )
                assigned += len(routed.assigned)
            if len(rows) < self.settings.drain_batch:
                return assigned

    async def _anyone_has_room(self, session: AsyncSession) -> bool:
        """Whether an online agent has room; their loads are counted afresh first, since a
        resolved ticket frees room without routing being told in the same transaction."""
        now = self.clock.now()
        stale = now - timedelta(seconds=self.settings.heartbeat_timeout_seconds)
        online = list(
            await session.scalars(
                select(RoutingProfile)
                .join(Agent, Agent.id == RoutingProfile.agent_id)
                .where(
                    Agent.active,
                    RoutingProfile.presence == Presence.ONLINE,
                    RoutingProfile.heartbeat_at >= stale,
                )
            )
        )
        weights = {p.agent_id: p.channel_weights for p in online}
        loads = await exact_loads(session, weights, weights, self.settings.channel_weights)
        for profile in online:
            if profile.load != loads[profile.agent_id]:
                profile.load = loads[profile.agent_id]
        return any(p.load < p.capacity for p in online)

    # --- presence ---------------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_seconds)
            try:
                await self.sweep_presence()
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("checking agents' presence failed; trying again")

    async def sweep_presence(self) -> None:
        """Agents whose heartbeats stopped are offline from when the last one expired; agents
        offline past the grace period get an `AgentOfflinePastGrace` once per offline spell."""
        now = self.clock.now()
        timeout = timedelta(seconds=self.settings.heartbeat_timeout_seconds)
        grace = timedelta(seconds=self.settings.offline_grace_seconds)
        async with self.db.transaction() as session:
            lapsed = await session.scalars(
                select(RoutingProfile)
                .where(
                    RoutingProfile.presence != Presence.OFFLINE,
                    or_(
                        RoutingProfile.heartbeat_at.is_(None),
                        RoutingProfile.heartbeat_at < now - timeout,
                    ),
                )
                .with_for_update(skip_locked=True)
            )
            for profile in lapsed:
                profile.presence = Presence.OFFLINE
                profile.offline_since = (profile.heartbeat_at or now) + timeout
                profile.updated_at = now
                record(session, AgentPresenceChanged(profile.agent_id, Presence.OFFLINE.value))
            gone = await session.scalars(
                select(RoutingProfile)
                .where(
                    RoutingProfile.presence == Presence.OFFLINE,
                    RoutingProfile.offline_since <= now - grace,
                    RoutingProfile.released_at.is_(None),
                )
                .with_for_update(skip_locked=True)
            )
            for profile in gone:
                profile.released_at = now
                record(session, AgentOfflinePastGrace(profile.agent_id))

    async def catch_up(self) -> int:
        """The fairness rule's safety net: route any open ticket a person must answer that is
        neither assigned nor held (tickets from before routing existed, an event set aside
        after failures). Routing a ticket twice is harmless: an assigned one is left alone."""
        settled = self.clock.now() - timedelta(seconds=CATCH_UP_AFTER_SECONDS)
        async with self.db.read() as session:
            missed = [
                t for t in await unattended(session, self._bot_answers) if t.updated_at <= settled
            ]
        if not missed:
            return 0
        async with self.db.transaction() as session:
            routed = await self.router.route(
                session, [t.ticket_id for t in missed], "safety net", now=self.clock.now()
            )
        log.warning("routing: %d ticket(s) were neither assigned nor held", len(missed))
        return len(routed.assigned) + len(routed.held)
