"""Routing speed on SQLite and PostgreSQL, with 1,000 agents and 100,000 open tickets.

What is measured:
  * `decision`   the routing decision itself (`pipeline.decide`: rules -> eligible agents ->
                 preference -> strategy) for a new ticket against its team of 100 agents, the
                 state loaded as the router loads it. Target: p99 under 2 ms.
  * `route`      a whole routing of one new ticket in its own transaction: lock the ticket, read
                 the customer and the rules, load and lock the team's agents, count their loads,
                 decide, assign, write the reason and the event, commit.
  * `drain`      10,000 tickets in the holding queue; 100 agents (capacity 100 each) come online
                 in one transaction; the time until the drain has assigned them all. Target: 5 s.

The machine is shared: run it quietly for figures to quote.

    python bench/routing.py                 # both databases
    python bench/routing.py --db sqlite --decisions 5000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text, update

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpdesk.common.clock import FixedClock
from helpdesk.customers.models import Customer
from helpdesk.routing.facts import rules_in_force, ticket_facts
from helpdesk.routing.managers import relationships_for
from helpdesk.routing.models import HeldTicket, Presence, RoutingProfile
from helpdesk.routing.pipeline import Context, Relationship, decide
from helpdesk.routing.profiles import candidates
from helpdesk.routing.rules import first_match
from helpdesk.routing.service import RoutingService
from helpdesk.routing.settings import RoutingSettings, RuleSettings
from helpdesk.runtime import tune_garbage_collector
from helpdesk.staff.models import Agent, Team, team_members
from helpdesk.storage.base import table_of
from helpdesk.storage.database import Database
from helpdesk.tickets.models import Ticket, TicketStatus
from tests.support.postgres import PostgresServer

AGENTS, TEAMS, OPEN_TICKETS = 1_000, 10, 100_000
HELD, NEW_AGENTS, NEW_CAPACITY = 10_000, 100, 100
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHUNK = 5_000


def settings() -> RoutingSettings:
    rules = [
        RuleSettings(name=f"team {n}", when={"keywords": [f"topic{n}"]}, team=f"Team {n}")
        for n in range(TEAMS)
    ]
    rules.append(RuleSettings(name="queue", when={"keywords": ["queued"]}, team="Newcomers"))
    return RoutingSettings(rules=rules, heartbeat_timeout_seconds=10**7)


async def populate(db: Database) -> None:
    """1,000 agents online in 10 teams, each with 100 open tickets and room for more."""
    agents, profiles, tickets = table_of(Agent), table_of(RoutingProfile), table_of(Ticket)
    async with db.transaction() as session:
        teams = [Team(name=f"Team {n}") for n in range(TEAMS)] + [Team(name="Newcomers")]
        session.add_all(teams)
        await session.flush()
        await session.execute(
            insert(agents),
            [
                {
                    "email": f"agent{n}@example.test",
                    "name": f"Agent {n}",
                    "role": "agent",
                    "password_hash": "x",
                    "active": True,
                    "created_at": NOW,
                }
                for n in range(AGENTS + NEW_AGENTS)
            ],
        )
        ids = list(await session.scalars(select(Agent.id).order_by(Agent.id)))
        await session.execute(
            insert(team_members),
            [{"team_id": teams[i % TEAMS].id, "agent_id": a} for i, a in enumerate(ids[:AGENTS])]
            + [{"team_id": teams[-1].id, "agent_id": a} for a in ids[AGENTS:]],
        )
        await session.execute(
            insert(profiles),
            [
                {
                    "agent_id": a,
                    "skills": [],
                    "languages": [],
                    "channels": [],
                    "capacity": 1_000 if i < AGENTS else NEW_CAPACITY,
                    "channel_weights": {},
                    "weight": 1,
                    "presence": "online" if i < AGENTS else "offline",
                    "heartbeat_at": NOW,
                    "shift_timezone": "UTC",
                    "load": OPEN_TICKETS // AGENTS if i < AGENTS else 0,
                    "updated_at": NOW,
                }
                for i, a in enumerate(ids)
            ],
        )
        await session.execute(
            insert(table_of(Customer)),
            [{"name": f"c{n}", "tier": "standard", "created_at": NOW} for n in range(10_000)],
        )
        customers = list(await session.scalars(select(Customer.id).order_by(Customer.id)))
    for start in range(0, OPEN_TICKETS + HELD, CHUNK):
        async with db.transaction() as session:
            rows = []
            for n in range(start, min(start + CHUNK, OPEN_TICKETS + HELD)):
                held = n >= OPEN_TICKETS
                rows.append(
                    {
                        "subject": "queued" if held else f"about topic{n % TEAMS}",
                        "status": "open",
                        "priority": "normal",
                        "kind": "question",
                        "channel": "email",
                        "customer_id": customers[n % len(customers)],
                        "assignee_id": None if held else ids[n % AGENTS],
                        "team_id": None,
                        "created_at": NOW + timedelta(microseconds=n),
                        "updated_at": NOW,
                    }
                )
            await session.execute(insert(tickets), rows)
    async with db.transaction() as session:
        held_ids = await session.scalars(select(Ticket.id).where(Ticket.assignee_id.is_(None)))
        await session.execute(
            insert(table_of(HeldTicket)),
            [
                {
                    "ticket_id": t,
                    "urgency": 2,
                    "held_since": NOW + timedelta(microseconds=t),
                    "reason": "nobody online",
                }
                for t in held_ids
            ],
        )


async def new_ticket(db: Database, n: int) -> int:
    async with db.transaction() as session:
        ticket = Ticket(
            subject=f"new about topic{n % TEAMS}",
            channel="email",
            customer_id=1 + n % 10_000,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(ticket)
        await session.flush()
        return ticket.id


async def bench_decisions(
    db: Database, service: RoutingService, count: int
) -> tuple[list[float], list[float]]:
    """The decision alone, for tickets of every team, the state read as the router reads it:
    wall time, and this thread's CPU time (which leaves out time other processes took)."""
    timings, cpu = [], []
    async with db.read() as session:
        rules = await rules_in_force(session, service.settings.rules)
        tickets = list(
            await session.scalars(
                select(Ticket).where(Ticket.assignee_id.is_not(None)).limit(count)
            )
        )
        relationships = await relationships_for(session, {t.customer_id for t in tickets})
        facts = await ticket_facts(session, tickets, relationships, trigger="new", with_text=True)
        pools = {}
        for team_id in {r.team_id for r in rules if r.team_id}:
            pools[team_id] = await candidates(
                session,
                team_ids={team_id},
                agent_ids=(),
                every_agent=False,
                settings=service.settings,
                now=NOW,
            )
    context = Context(service.settings.channel_weights, timedelta(minutes=30))
    for ticket in tickets:
        started, started_cpu = time.perf_counter(), time.thread_time()
        rule = first_match(rules, facts[ticket.id])
        assert rule is not None and rule.team_id is not None
        decision = decide(
            facts[ticket.id],
            rule,
            pools[rule.team_id],
            Relationship(),
            context,
            held_since=NOW,
            now=NOW,
        )
        timings.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - started_cpu)
        assert decision.agent_id is not None
    return timings, cpu


async def bench_routes(db: Database, service: RoutingService, count: int) -> list[float]:
    timings = []
    for n in range(count):
        number = await new_ticket(db, n)
        started = time.perf_counter()
        async with db.transaction() as session:
            routed = await service.router.route(session, [number], "new ticket", now=NOW)
        timings.append(time.perf_counter() - started)
        assert number in routed.assigned
    return timings


async def bench_drain(db: Database, service: RoutingService) -> tuple[float, int]:
    async with db.transaction() as session:  # the old hands go home; 100 newcomers arrive
        await session.execute(
            update(RoutingProfile)
            .where(RoutingProfile.capacity == 1_000)
            .values(presence=Presence.OFFLINE)
        )
        await session.execute(
            update(RoutingProfile)
            .where(RoutingProfile.capacity == NEW_CAPACITY)
            .values(presence=Presence.ONLINE, heartbeat_at=NOW)
        )
    started = time.perf_counter()
    assigned = await service.drain()
    elapsed = time.perf_counter() - started
    async with db.read() as session:
        left = await session.scalar(select(func.count()).select_from(HeldTicket))
        assert left == 0, f"{left} tickets still held"
        over = await session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.status == TicketStatus.OPEN, Ticket.subject == "queued")
            .where(Ticket.assignee_id.is_(None))
        )
        assert over == 0
    return elapsed, assigned


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(url: str, name: str, decisions: int, routes: int) -> list[str]:
    db = Database(url, clock=FixedClock(NOW))
    try:
        await db.migrate()
        started = time.perf_counter()
        await populate(db)
        if not db.is_sqlite:  # as autovacuum would have by now: the planner needs the figures
            async with db.engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text("ANALYZE"))
        print(f"[{name}] populated in {time.perf_counter() - started:.1f} s", flush=True)
        tune_garbage_collector()  # as `helpdesk serve` does after start-up
        service = RoutingService(db, db.clock, settings())
        made, made_cpu = await bench_decisions(db, service, decisions)
        routed = await bench_routes(db, service, routes)
        drained, assigned = await bench_drain(db, service)
    finally:
        await db.dispose()
    return [
        f"{name:<10} {'decision':<9} {len(made):>6} {percentile(made, 0.5):>8.3f} "
        f"{percentile(made, 0.99):>8.3f}   target p99 < 2 ms (wall clock)",
        f"{name:<10} {'(cpu)':<9} {len(made):>6} {percentile(made_cpu, 0.5):>8.3f} "
        f"{percentile(made_cpu, 0.99):>8.3f}   the same decisions, this thread's CPU time",
        f"{name:<10} {'route':<9} {len(routed):>6} {percentile(routed, 0.5):>8.3f} "
        f"{percentile(routed, 0.99):>8.3f}   (whole transaction, committed)",
        f"{name:<10} {'drain':<9} {assigned:>6} {drained * 1000:>8.0f} {'':>8}   "
        f"target < 5000 ms for {HELD} tickets",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--decisions", type=int, default=5_000)
    parser.add_argument("--routes", type=int, default=500)
    options = parser.parse_args()
    lines = []
    if options.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            lines += await run(url, "sqlite", options.decisions, options.routes)
    if options.db in ("postgresql", "both"):
        server = PostgresServer(fsync=True).start()
        try:
            url = server.create_database("routing_bench")
            lines += await run(url, "postgresql", options.decisions, options.routes)
        finally:
            server.stop()
    print(f"\n{AGENTS} agents, {OPEN_TICKETS} open tickets; times in ms")
    print(f"{'database':<10} {'what':<9} {'count':>6} {'p50':>8} {'p99/total':>8}")
    for line in lines:
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
