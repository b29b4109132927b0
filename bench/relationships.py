"""Loyalty and relationship signals over 100,000 customers, on SQLite and PostgreSQL.

What is measured, on a database holding `--customers` customers with two tickets each over the
last 180 days (ratings 1-5 on most, a recommend answer on half, 5% complaints, one reopening in
twenty tickets), a relationship manager for one customer in ten and a key account (with one
message per ticket, some silent for months) for one in a hundred:

  * `loyalty 1`    one customer's classification, as `GET /api/customers/{id}/loyalty` reads
                   it (p50 over 50 customers), in ms;
  * `loyalty all`  every customer's classification at once (`loyalty_of`), in s;
  * `scan`         the scheduled scan of the whole desk that puts the tasks (first run: inserts
                   them), in s; `rescan` the next one (refreshes the open tasks);
  * `event`        the reaction's look at one customer after a complaint, a low rating or a
                   reopening (p50 over 50), in ms;
  * `tasks`        open tasks after the scan.

Rows are generated with bulk inserts; the clock is the system's. The machine may be shared:
figures taken beside other work are worse than the code can do. Each database takes about a
minute with the defaults.

    python bench/relationships.py                  # both databases, 100,000 customers
    python bench/relationships.py --db sqlite --customers 20000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.databases import database_url
from helpdesk.common.clock import SystemClock
from helpdesk.customers.loyalty_query import loyalty_of
from helpdesk.relationships.models import RelationshipTask
from helpdesk.relationships.service import RelationshipSignals
from helpdesk.relationships.settings import RelationshipSettings
from helpdesk.staff.accounts import add_agent
from helpdesk.storage.database import Database

CHUNK = 10_000
WINDOW_DAYS = 180


@dataclass
class Result:
    database: str
    customers: int
    load_seconds: float
    loyalty_one_ms: float
    loyalty_all_seconds: float
    scan_seconds: float
    rescan_seconds: float
    event_ms: float
    tasks: int


def _sql(table: str, columns: str, sqlite: bool) -> str:
    names = columns.split()
    marks = ", ".join("?" if sqlite else f"${i}" for i in range(1, len(names) + 1))
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"


def _stamp(moment: datetime, sqlite: bool) -> object:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else moment


async def load(db: Database, customers: int, now: datetime) -> None:
    async with db.transaction() as session:
        manager = await add_agent(
            session, email="manager@bench.test", name="Manager", password="bench-pass-123", now=now
        )
        manager_id = manager.id
    sqlite = db.is_sqlite
    random.seed(16)
    customer_sql = _sql("customers", "id name tier created_at", sqlite)
    manager_sql = _sql("customer_managers", "customer_id manager_id key_account updated_at", sqlite)
    ticket_sql = _sql(
        "tickets",
        "id subject status priority kind channel customer_id created_at updated_at "
        "satisfaction satisfaction_at recommend_score recommend_at",
        sqlite,
    )
    message_sql = _sql(
        "messages",
        "ticket_id direction author_type customer_id channel text created_at delivery_state",
        sqlite,
    )
    audit_sql = _sql("audit_entries", "at actor_type ticket_id action detail", sqlite)
    created = _stamp(now - timedelta(days=400), sqlite)
    for first in range(1, customers + 1, CHUNK):
        ids = range(first, min(first + CHUNK, customers + 1))
        rows, managers, tickets, messages, audits = [], [], [], [], []
        for c in ids:
            key = c % 100 == 0
            rows.append((c, f"Customer {c}", "key" if key else "standard", created))
            if c % 10 == 0:
                managers.append((c, manager_id, key, _stamp(now, sqlite)))
            for t in (2 * c - 1, 2 * c):
                at = now - timedelta(days=random.uniform(1, WINDOW_DAYS + 30))
                rated = random.random() < 0.8
                score = random.choice((1, 2, 3, 4, 4, 5, 5, 5)) if rated else None
                nps = random.randint(0, 10) if rated and random.random() < 0.5 else None
                kind = "complaint" if random.random() < 0.05 else "question"
                when = _stamp(at, sqlite)
                tickets.append(
                    (
                        t,
                        "help",
                        "resolved",
                        "normal",
                        kind,
                        "webchat",
                        c,
                        when,
                        when,
                        score,
                        when if rated else None,
                        nps,
                        when if nps is not None else None,
                    )
                )
                if key:
                    messages.append((t, "in", "customer", c, "webchat", "hello", when, "n/a"))
                if t % 20 == 0:
                    audits.append((when, "system", t, "ticket.reopened", "{}"))
        async with db.engine.begin() as connection:
            await connection.exec_driver_sql(customer_sql, rows)
            await connection.exec_driver_sql(ticket_sql, tickets)
            if managers:
                await connection.exec_driver_sql(manager_sql, managers)
            if messages:
                await connection.exec_driver_sql(message_sql, messages)
            if audits:
                await connection.exec_driver_sql(audit_sql, audits)


async def run(database: str, url: str, customers: int) -> Result:
    db = Database(url)
    try:
        await db.migrate()
        now = datetime.now(UTC)
        started = time.perf_counter()
        await load(db, customers, now)
        load_seconds = time.perf_counter() - started
        # As autovacuum would after a load this size: the planner's statistics.
        async with db.engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
        sample = random.sample(range(1, customers + 1), 50)

        one = []
        for customer_id in sample:
            began = time.perf_counter()
            async with db.read() as session:
                await loyalty_of(session, [customer_id], now=now, window_days=WINDOW_DAYS)
            one.append(time.perf_counter() - began)

        began = time.perf_counter()
        async with db.read() as session:
            found = await loyalty_of(
                session, range(1, customers + 1), now=now, window_days=WINDOW_DAYS
            )
        loyalty_all = time.perf_counter() - began
        assert len(found) == customers

        signals = RelationshipSignals(db, SystemClock(), RelationshipSettings(), key_tier="key")
        began = time.perf_counter()
        await signals.scan_all()
        scan = time.perf_counter() - began
        began = time.perf_counter()
        await signals.scan_all()
        rescan = time.perf_counter() - began

        events = []
        for customer_id in sample:
            began = time.perf_counter()
            async with db.transaction() as session:
                await signals.scan.run(session, now=now, customer_ids=[customer_id])
            events.append(time.perf_counter() - began)
        async with db.read() as session:
            tasks = await session.scalar(select(func.count()).select_from(RelationshipTask)) or 0
        return Result(
            database,
            customers,
            load_seconds,
            statistics.median(one) * 1000,
            loyalty_all,
            scan,
            rescan,
            statistics.median(events) * 1000,
            tasks,
        )
    finally:
        await db.dispose()


def bench(database: str, customers: int) -> Result:
    with (
        tempfile.TemporaryDirectory(prefix="bench-relationships-") as folder,
        database_url(database, Path(folder)) as url,
    ):
        return asyncio.run(run(database, url, customers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--customers", type=int, default=100_000)
    options = parser.parse_args(argv)
    databases = ["sqlite", "postgresql"] if options.db == "both" else [options.db]
    results = [bench(database, options.customers) for database in databases]
    print(
        f"\n{'database':<11}{'customers':>10}{'load s':>8}{'loyalty 1':>11}{'loyalty all':>13}"
        f"{'scan':>8}{'rescan':>8}{'event':>10}{'tasks':>8}"
    )
    for r in results:
        print(
            f"{r.database:<11}{r.customers:>10,}{r.load_seconds:>8.1f}"
            f"{r.loyalty_one_ms:>9.2f}ms{r.loyalty_all_seconds:>12.2f}s"
            f"{r.scan_seconds:>7.2f}s{r.rescan_seconds:>7.2f}s{r.event_ms:>8.2f}ms{r.tasks:>8,}"
        )
    print("figures on a shared machine are worse than on a quiet one")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
