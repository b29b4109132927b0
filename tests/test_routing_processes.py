"""Routing across processes on one real PostgreSQL: two processes route the same 200 tickets
at once to 30 agents of capacity 3; no ticket is assigned twice and nobody passes capacity.
And kill -9 between a hand-over and its assignment: after the restart the ticket is assigned
exactly once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpdesk.customers.models import Customer
from helpdesk.kb import articles as kb_articles
from helpdesk.kb.articles import ArticleFields
from helpdesk.kb.models import ArticleStatus
from helpdesk.routing import queries
from helpdesk.routing.models import HeldTicket, Presence, RoutingDecision
from helpdesk.routing.profiles import ProfileChanges, apply_changes, profile_of, set_presence
from helpdesk.routing.settings import RoutingSettings
from helpdesk.staff.models import Agent
from helpdesk.storage.database import Database
from helpdesk.storage.event_log import EVENTS, ReactionCheckpoint
from helpdesk.tickets.models import Ticket
from tests.conftest import People, seed_staff
from tests.support.postgres import PostgresServer
from tests.support.server import REPO_ROOT, HelpdeskServer

AGENTS, CAPACITY, TICKETS = 30, 3, 200


async def _setup(database_url: str) -> list[int]:
    db = Database(database_url)
    now = datetime.now(UTC)
    try:
        await db.migrate()
        async with db.transaction() as session:
            for n in range(AGENTS):
                agent = Agent(
                    email=f"a{n}@example.test", name=f"A{n}", password_hash="x", created_at=now
                )
                session.add(agent)
                await session.flush()
                profile = await profile_of(session, agent.id, RoutingSettings(), now)
                apply_changes(profile, ProfileChanges(capacity=CAPACITY), now)
                set_presence(session, profile, Presence.ONLINE, now)
            ids = []
            for n in range(TICKETS):
                customer = Customer(name=f"c{n}", created_at=now)
                session.add(customer)
                await session.flush()
                ticket = Ticket(
                    subject=f"t{n}",
                    channel="email",
                    customer_id=customer.id,
                    created_at=now,
                    updated_at=now,
                )
                session.add(ticket)
                await session.flush()
                ids.append(ticket.id)
        return ids
    finally:
        await db.dispose()


def _racer(database_url: str, start_at: float, seed: int, ids: list[int]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.routing_race",
            database_url,
            str(start_at),
            str(seed),
            *map(str, ids),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_two_processes_routing_at_once_never_double_assign_nor_overload(
    postgres: PostgresServer,
):
    database_url = postgres.create_database("routing_race")
    ids = await _setup(database_url)
    start_at = time.time() + 3  # both have imported the helpdesk by then
    racers = [_racer(database_url, start_at, seed, ids) for seed in (1, 2)]
    outputs = [await asyncio.to_thread(p.communicate, timeout=120) for p in racers]
    assigned_by = []
    for process, (out, _) in zip(racers, outputs, strict=True):
        assert process.returncode == 0, out
        assigned_by.append(int(out.strip().splitlines()[-1].split()[1]))

    db = Database(database_url)
    try:
        async with db.read() as session:
            per_ticket = dict(
                (
                    await session.execute(
                        select(RoutingDecision.ticket_id, func.count())
                        .where(RoutingDecision.outcome == "assigned")
                        .group_by(RoutingDecision.ticket_id)
                    )
                ).all()
            )
            loads = dict(
                (
                    await session.execute(
                        select(Ticket.assignee_id, func.count())
                        .where(Ticket.assignee_id.is_not(None))
                        .group_by(Ticket.assignee_id)
                    )
                ).all()
            )
            held = await session.scalar(select(func.count()).select_from(HeldTicket))
            unattended = await queries.unattended(session, lambda _channel: False)
    finally:
        await db.dispose()
    assert max(per_ticket.values()) == 1  # no ticket assigned twice
    assert max(loads.values()) <= CAPACITY  # nobody past capacity
    assert sum(loads.values()) == AGENTS * CAPACITY == sum(assigned_by)
    assert all(count > 0 for count in assigned_by)  # both processes took part
    assert held == TICKETS - AGENTS * CAPACITY and unattended == []


COUNT = 20
SERVER_ENV = {
    "HELPDESK_EVENTS__BATCH_SIZE": "2",  # small rounds, so a kill lands half way
    "HELPDESK_ROUTING__HEARTBEAT_TIMEOUT_SECONDS": "3600",
}


async def _prepare_crash(database_url: str, data_dir: Path) -> int:
    """Staff, alice online with room for everyone, a published article (so the bot holds new
    chats and routing waits for the hand-over), and one run of the server so that the
    reactions have their checkpoints."""
    await seed_staff(database_url)
    db = Database(database_url)
    now = datetime.now(UTC)
    try:
        async with db.transaction() as session:
            alice = await session.scalar(select(Agent.id).where(Agent.email == People.alice))
            assert alice is not None
            profile = await profile_of(session, alice, RoutingSettings(), now)
            apply_changes(profile, ProfileChanges(capacity=1000), now)
            set_presence(session, profile, Presence.ONLINE, now)
            await kb_articles.create(
                session,
                ArticleFields(
                    title="Opening hours",
                    body="We are open from nine to five.",
                    phrasings=["when are you open"],
                    status=ArticleStatus.PUBLISHED,
                ),
                now=now,
            )
    finally:
        await db.dispose()
    HelpdeskServer(data_dir, database_url, **SERVER_ENV).start().stop()
    return alice


def _hand_over_and_die(database_url: str, data_dir: Path) -> None:
    args = [database_url, str(data_dir), str(COUNT)]
    scenario = subprocess.Popen(
        [sys.executable, "-m", "tests.support.handover_scenario", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert scenario.stdout is not None
    line = scenario.stdout.readline()
    assert line.strip() == "committed", line + scenario.stdout.read()
    scenario.kill()  # SIGKILL: committed hand-overs, no routing yet
    scenario.wait(10)


async def _routing_pending(db: Database) -> int:
    async with db.read() as session:
        checkpoint = await session.scalar(
            select(ReactionCheckpoint.last_event_id).where(ReactionCheckpoint.name == "routing")
        )
        assert checkpoint is not None
        return int(
            await session.scalar(
                select(func.count())
                .select_from(EVENTS)
                .where(EVENTS.c.id > checkpoint, EVENTS.c.type == "TicketHandedOver")
            )
            or 0
        )


@pytest.mark.kills_processes
async def test_kill_between_hand_over_and_assignment_assigns_exactly_once(
    database_url: str, tmp_path: Path
):
    data_dir = tmp_path / "server"
    alice = await _prepare_crash(database_url, data_dir)
    await asyncio.to_thread(_hand_over_and_die, database_url, data_dir)
    db = Database(database_url)
    try:
        assert await _routing_pending(db) == COUNT
        server = HelpdeskServer(data_dir, database_url, **SERVER_ENV).start()
        try:  # kill it again while it routes
            async with asyncio.timeout(60):
                while await _routing_pending(db) == COUNT:
                    await asyncio.sleep(0.002)
        finally:
            server.kill()
        last = HelpdeskServer(data_dir, database_url, **SERVER_ENV).start()
        try:
            async with asyncio.timeout(60):
                while await _routing_pending(db):
                    await asyncio.sleep(0.05)
        finally:
            last.stop()
        async with db.read() as session:
            tickets = list(await session.scalars(select(Ticket).where(Ticket.channel == "webchat")))
            assigned = dict(
                (
                    await session.execute(
                        select(RoutingDecision.ticket_id, func.count())
                        .where(RoutingDecision.outcome == "assigned")
                        .group_by(RoutingDecision.ticket_id)
                    )
                ).all()
            )
            events = await session.scalar(
                select(func.count()).select_from(EVENTS).where(EVENTS.c.type == "TicketAssigned")
            )
    finally:
        await db.dispose()
    assert len(tickets) == COUNT
    assert all(t.assignee_id == alice for t in tickets)
    assert all(assigned[t.id] == 1 for t in tickets)
    assert events == COUNT
