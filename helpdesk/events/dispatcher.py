"""Hands the durable event log to its reactions, after the commit, exactly once each.

A `Reaction` is a named handler with its own checkpoint (`reaction_checkpoints`). A round reads
the events after the checkpoint and asks the reaction which it wants; the wanted ones are
handled in one transaction that locks the checkpoint row, runs the handler with its session and
moves the checkpoint. What the handler writes and how far the checkpoint moved commit together,
so after a crash an event is handled again only if its effects were rolled back: every effect
happens once. On PostgreSQL the row lock is taken with SKIP LOCKED, so several processes never
wait on each other, and the NOTIFY sent with every append wakes them.

Several processes on PostgreSQL: one of them runs each reaction, the one holding its advisory
lock (`storage/advisory_lease.py`); the others try for it every `poll_seconds` and take over
when its holder stops or dies. Without that lease every process would read every round and the
rounds, split between them, would each carry half the events for the same fixed cost: measured
with two processes, a fifth more CPU a ticket (docs/benchmarks.md). The lease only saves work;
the row lock above keeps every effect once even if two processes ever run a round together.

A handler that fails is retried with backoff, one event at a time; an event that still fails
after `attempts` tries is written to `reaction_failures` with the error, and the reaction goes
on, so one bad event never stops the others. Broadcasts (`broadcasts.py`) and pruning
(`pruning.py`) run beside the reactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.background import BackgroundTask, wait_for_event
from helpdesk.common.clock import Clock
from helpdesk.events import round_statements as statements
from helpdesk.events.broadcasts import Broadcaster
from helpdesk.events.pruning import prune
from helpdesk.events.reactions import Broadcast, EventTable, Reaction
from helpdesk.events.status import ReactionStatus, reaction_status
from helpdesk.events.types import Event
from helpdesk.storage.advisory_lease import AdvisoryLeases
from helpdesk.storage.database import Database
from helpdesk.storage.event_log import (
    NOTIFY_CHANNEL,
    ReactionCheckpoint,
    ReactionFailure,
    latest_id,
)
from helpdesk.storage.listener import PostgresListener

log = logging.getLogger(__name__)

# The advisory locks whose holders run the reactions are (this, a checksum of the reaction's
# name); any constant the processes share.
REACTIONS_LEASE_NAMESPACE = 0x48455652


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    batch_size: int = 200
    poll_seconds: float = 1.0
    # Under load, rounds a little apart carry more events each: fewer transactions. A round
    # starts at least this long after the previous one of the same reaction began, whether it
    # was woken by a commit or the previous round was full; after a quiet spell the first
    # event is handled at once.
    round_interval_seconds: float = 0.1
    attempts: int = 5
    first_retry_seconds: float = 0.2
    retention: timedelta = timedelta(days=3)
    prune_every_seconds: float = 300.0


class _Route:
    """One reaction's part of the table: the event types it handles, by stored name."""

    def __init__(self, reaction: Reaction) -> None:
        self.reaction = reaction
        self.types: dict[str, type[Event]] = {}
        self.wake = asyncio.Event()
        # How far this process has read, which may be ahead of the stored checkpoint by events
        # that were all declined (their checkpoint is written lazily, see `_round`).
        self.cursor = 0
        self.stored_at = 0.0


class EventDispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        table: EventTable,
        settings: DispatchSettings | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings or DispatchSettings()
        self._routes: dict[str, _Route] = {}
        broadcasts: dict[type[Event], list[Broadcast]] = {}
        for event_type, handlers in table.items():
            for handler in handlers:
                if isinstance(handler, Broadcast):
                    broadcasts.setdefault(event_type, []).append(handler)
                    continue
                route = self._routes.setdefault(handler.name, _Route(handler))
                if route.reaction is not handler and route.reaction.handle != handler.handle:
                    raise ValueError(f"two reactions are named {handler.name!r}")
                route.types[event_type.__name__] = event_type
        self._broadcaster = Broadcaster(
            db,
            broadcasts,
            batch_size=self._settings.batch_size,
            poll_seconds=self._settings.poll_seconds,
            round_interval_seconds=self._settings.round_interval_seconds,
        )
        self._tasks = [
            BackgroundTask(f"reaction:{name}", self._reaction_loop(route))
            for name, route in self._routes.items()
        ]
        self._tasks.append(BackgroundTask("broadcasts", self._broadcaster.run))
        self._tasks.append(BackgroundTask("event-pruning", self._prune_loop))
        self._listener = (
            None
            if db.is_sqlite
            else PostgresListener(
                db.url,
                NOTIFY_CHANNEL,
                lambda payload: self.wake(payload.split(",") if payload else None),
                on_connect=self.wake,
            )
        )
        # On PostgreSQL one process at a time runs each reaction (see the module's text).
        self._leases = (
            None
            if db.is_sqlite
            else AdvisoryLeases(
                db.url,
                REACTIONS_LEASE_NAMESPACE,
                self._routes,
                retry_seconds=self._settings.poll_seconds,
                on_gained=self._lease_gained,
            )
        )
        db.listen_for_events(self.wake)

    def _runs(self, route: _Route) -> bool:
        return self._leases is None or self._leases.held(route.reaction.name)

    def _lease_gained(self, name: str) -> None:
        self._routes[name].wake.set()

    def wake(self, types: Iterable[str] | None = None) -> None:
        """Look at the log now: every reaction, or those handling one of `types`."""
        wanted = None if types is None else set(types)
        for route in self._routes.values():
            if wanted is None or not wanted.isdisjoint(route.types):
                route.wake.set()
        self._broadcaster.wake(wanted)

    async def start(self) -> None:
        async with self._db.transaction() as session:
            end = await latest_id(session)
            self._broadcaster.cursor = end
            known = set(await session.scalars(select(ReactionCheckpoint.name)))
            for name in self._routes.keys() - known:
                # A new reaction starts at the end: it reacts to what happens from now on,
                # not to a history that others already handled.
                session.add(
                    ReactionCheckpoint(
                        name=name,
                        last_event_id=end,
                        updated_at=self._clock.now(),
                    )
                )
        if self._listener is not None:
            await self._listener.start()
        if self._leases is not None:
            self._leases.start()
        for task in self._tasks:
            task.start()
        self.wake()

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
        for task in self._tasks:
            await task.stop()
        if self._leases is not None:
            await self._leases.stop()
        # Where declined events took the cursor: saves reading them again after the restart.
        # Only an optimisation, so it never holds up a shutdown.
        for route in self._routes.values():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._store_lazily(route, now=True)

    async def idle(self) -> None:
        """Wait until every reaction has handled every event committed so far, including the
        events those reactions recorded themselves (tests, drills)."""
        while True:
            waiting = any(status.waiting for status in await self.status())
            async with self._db.read() as session:
                target = await latest_id(session)
            broadcasts_done = not self._broadcaster.active or self._broadcaster.cursor >= target
            if not waiting and broadcasts_done:
                return
            self.wake()
            await asyncio.sleep(0.01)

    async def status(self) -> list[ReactionStatus]:
        """Where each reaction stands, as this process knows it (an operator's view; tests
        wait on it for a reaction's decision instead of sleeping)."""
        return await reaction_status(
            self._db, {name: (r.cursor, list(r.types)) for name, r in self._routes.items()}
        )

    # --- reactions: once each, across processes -------------------------------------------

    def _reaction_loop(self, route: _Route) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            loop = asyncio.get_running_loop()
            started = -self._settings.round_interval_seconds
            while True:
                await wait_for_event(route.wake, self._settings.poll_seconds)
                if not self._runs(route):
                    # Another process holds the lease; gaining it wakes every reaction.
                    route.wake.clear()
                    continue
                while True:
                    # Commits arriving during the pause are read by this round: one round (a
                    # read, and a transaction if any is wanted) for all of them.
                    pause = self._settings.round_interval_seconds - (loop.time() - started)
                    if pause > 0:
                        await asyncio.sleep(pause)
                    route.wake.clear()
                    started = loop.time()
                    more = await self._round_with_retries(route)
                    if not more:
                        break

        return run

    async def _round_with_retries(self, route: _Route) -> bool:
        try:
            return await self._round(route, self._settings.batch_size)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning(
                "reaction %s failed on a batch; retrying one event at a time",
                route.reaction.name,
                exc_info=True,
            )
        delay = self._settings.first_retry_seconds
        for attempt in range(1, self._settings.attempts + 1):
            await asyncio.sleep(delay)
            delay *= 4
            try:
                return await self._round(route, 1)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt == self._settings.attempts:
                    await self._give_up(route, exc)
                    return True
                log.warning(
                    "reaction %s failed (attempt %d): %s", route.reaction.name, attempt, exc
                )
        return True

    async def _round(self, route: _Route, limit: int) -> bool:
        """Handle up to `limit` events; True if more may be waiting.

        The events are read and offered to `wanted` outside any transaction. Most are declined
        (an ordinary message needs no reaction), and a batch of declined events has no effect to
        commit: only the checkpoint moves, and it is written at most once per poll interval, so
        under load reactions add almost nothing to the writers' queue. Reading declined events
        again after a crash is harmless. A batch with wanted events is handled in one
        transaction that claims the checkpoint, handles them and moves it."""
        reaction = route.reaction
        async with self._db.lookup() as session:
            connection = await session.connection()
            # Every event up to the newest one visible is committed (`event_log`), so the
            # checkpoint may pass over the ones of other types up to there. One statement
            # reads both (a round trip less per round).
            stored, upper = (
                await connection.execute(statements.position(), {"reaction": reaction.name})
            ).one()
            start = max(route.cursor, stored or 0)
            if upper <= start:
                return False
            rows = (
                await connection.execute(
                    statements.events_between(tuple(route.types), bounded=True),
                    {"start": start, "upper": upper, "limit": limit},
                )
            ).all()
        full = len(rows) == limit
        end = rows[-1].id if full else upper
        events = [route.types[row.type](**row.payload) for row in rows]
        wanted = [e for e in events if reaction.wanted is None or reaction.wanted(e)]
        if not wanted:
            route.cursor = end
            await self._store_lazily(route)
            return full
        async with self._db.transaction() as session:
            cursor = await self._claim(session, reaction.name)
            if cursor is None:
                return False  # another process is at it; its NOTIFY will wake us again
            if cursor > start:
                return True  # another process moved on meanwhile: read again from there
            if reaction.handle_many is not None:
                await reaction.handle_many(session, wanted)
            else:
                for event in wanted:
                    await reaction.handle(session, event)
            await self._advance(session, reaction.name, end)
        route.cursor = end
        route.stored_at = asyncio.get_running_loop().time()
        return full

    async def _store_lazily(self, route: _Route, *, now: bool = False) -> None:
        loop = asyncio.get_running_loop()
        if not now and loop.time() - route.stored_at < self._settings.poll_seconds:
            return
        route.stored_at = loop.time()
        async with self._db.transaction() as session:
            await (await session.connection()).execute(
                statements.advance(only_forward=True),
                {"reaction": route.reaction.name, "last": route.cursor, "at": self._clock.now()},
            )

    async def _claim(self, session: AsyncSession, name: str) -> int | None:
        query = statements.claim(skip_locked=not self._db.is_sqlite)
        return (await (await session.connection()).execute(query, {"reaction": name})).scalar()

    async def _advance(self, session: AsyncSession, name: str, event_id: int) -> None:
        await (await session.connection()).execute(
            statements.advance(only_forward=False),
            {"reaction": name, "last": event_id, "at": self._clock.now()},
        )

    async def _give_up(self, route: _Route, error: Exception) -> None:
        """Set the failing event (the first wanted one) aside with its error, so the events
        after it are handled."""
        reaction = route.reaction
        async with self._db.transaction() as session:
            cursor = await self._claim(session, reaction.name)
            if cursor is None:
                return
            rows = (
                await (await session.connection()).execute(
                    statements.events_between(tuple(route.types), bounded=False),
                    {"start": max(cursor, route.cursor), "limit": self._settings.batch_size},
                )
            ).all()
            failing = next(
                (
                    row
                    for row in rows
                    if reaction.wanted is None
                    or reaction.wanted(route.types[row.type](**row.payload))
                ),
                None,
            )
            if failing is None:
                return
            session.add(
                ReactionFailure(
                    reaction=reaction.name,
                    event_id=failing.id,
                    event_type=failing.type,
                    error=f"{type(error).__name__}: {error}"[:4000],
                    at=self._clock.now(),
                )
            )
            await self._advance(session, reaction.name, failing.id)
        route.cursor = max(route.cursor, failing.id)
        log.error(
            "reaction %s gave up on event %d (%s): %s",
            reaction.name,
            failing.id,
            failing.type,
            error,
        )

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.prune_every_seconds)
            try:
                await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pruning the event log failed")

    async def prune(self) -> int:
        """Delete events every reaction has handled and that are older than the retention."""
        older_than = self._clock.now() - self._settings.retention
        return await prune(self._db, list(self._routes), older_than=older_than)
