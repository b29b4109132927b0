"""The reports over 1,000,000 messages (issue 16), on SQLite and PostgreSQL.

Seeds a desk with bulk inserts (COPY through asyncpg's `copy_records_to_table` on PostgreSQL,
multi-row executemany on SQLite): `--messages` messages (1,000,000) on a tenth as many tickets
spread over a year, 12 teams and 120 agents, 50,000 customers in 2,000 accounts with values and
tiers, ratings (1-5 on 35 % of tickets, 0-10 on 20 %), complaints with root causes, reopenings
in the audit trail, two SLA timers per ticket (some breached) and the bot's decisions. Then
each report is run over a period covering everything, grouped by team, `--runs` times; the
table shows the median. `summary` is every report at once, as the dashboard asks.

    python bench/customers.py --part reports                   # both databases
    python bench/customers.py --part reports --db postgresql --explain

Target: each report under 2 s on PostgreSQL. The machine may be shared: figures taken beside
other work are worse than the code can do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy.ext.asyncio import AsyncConnection

from helpdesk.reports import catalog
from helpdesk.reports.query import GroupBy, Period, ReportQuery
from helpdesk.storage.database import Database
from tests.support.postgres import PostgresServer

START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR = 365 * 86_400
CHUNK = 50_000
TEAMS, AGENTS, CUSTOMERS, ACCOUNTS = 12, 120, 50_000, 2_000
CAUSES = ("no or little support", "delay in fixing", "poor quality of work", "price")
Row = tuple[Any, ...]


class Loader:
    """Bulk rows into one table, the fastest way each database offers."""

    def __init__(self, connection: AsyncConnection, sqlite: bool) -> None:
        self.connection = connection
        self.sqlite = sqlite

    def time(self, moment: datetime | None) -> Any:
        if moment is None or not self.sqlite:
            return moment
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite format

    async def load(self, table: str, columns: str, rows: Sequence[Row]) -> None:
        names = columns.split()
        for first in range(0, len(rows), CHUNK):
            chunk = rows[first : first + CHUNK]
            if self.sqlite:
                marks = ", ".join("?" for _ in names)
                sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"
                await self.connection.exec_driver_sql(sql, list(chunk))
            else:
                raw = await self.connection.get_raw_connection()
                driver: Any = raw.driver_connection
                await driver.copy_records_to_table(table, records=chunk, columns=names)


async def seed(db: Database, messages: int, rng: random.Random) -> int:
    """The desk; returns how many tickets it holds."""
    tickets = messages // 10
    async with db.engine.begin() as connection:
        load = Loader(connection, db.is_sqlite)
        t = load.time
        await load.load(
            "teams",
            "id name name_key",
            [(i, f"Team {i}", f"team {i}") for i in range(1, TEAMS + 1)],
        )
        await load.load(
            "agents",
            "id email name role password_hash active created_at",
            [
                (i, f"agent{i}@example.test", f"Agent {i}", "agent", "-", True, t(START))
                for i in range(1, AGENTS + 1)
            ],
        )
        await load.load(
            "team_members",
            "team_id agent_id",
            [(1 + (i - 1) % TEAMS, i) for i in range(1, AGENTS + 1)],
        )
        await load.load(
            "accounts",
            "id name name_key value tier created_at updated_at",
            [
                (
                    i,
                    f"Account {i}",
                    f"account {i}",
                    rng.paretovariate(1.2) * 1000,
                    "key" if i <= 200 else "standard",
                    t(START),
                    t(START),
                )
                for i in range(1, ACCOUNTS + 1)
            ],
        )
        await load.load(
            "customers",
            "id name tier created_at account_id value tier_override",
            [
                (
                    i,
                    f"Customer {i}",
                    "standard",
                    t(START),
                    1 + i % ACCOUNTS if i % 4 == 0 else None,
                    rng.paretovariate(1.5) * 100 if i % 3 else None,
                    "key" if i % 997 == 0 else None,
                )
                for i in range(1, CUSTOMERS + 1)
            ],
        )
        ticket_rows, message_rows, audit_rows, timer_rows = [], [], [], []
        complaint_rows, decision_rows = [], []
        message_id = 0
        for n in range(1, tickets + 1):
            created = START + timedelta(seconds=rng.randrange(YEAR))
            agent = rng.randrange(1, AGENTS + 1) if rng.random() < 0.95 else None
            team = 1 + (agent - 1) % TEAMS if agent else None
            responded = created + timedelta(seconds=rng.expovariate(1 / 1800)) if agent else None
            done = rng.random() < 0.85
            resolved = (
                created + timedelta(seconds=rng.expovariate(1 / 36_000) + 60) if done else None
            )
            status = ("closed" if rng.random() < 0.3 else "resolved") if done else "open"
            complaint = rng.random() < 0.05
            ticket_rows.append(
                (
                    n,
                    f"Ticket {n}",
                    status,
                    "normal",
                    "complaint" if complaint else "question",
                    "webchat",
                    rng.randrange(1, CUSTOMERS + 1),
                    agent,
                    team,
                    t(created),
                    t(created),
                    t(responded),
                    t(resolved),
                    rng.choice((1, 2, 3, 4, 4, 5, 5, 5)) if done and rng.random() < 0.35 else None,
                    rng.randrange(11) if done and rng.random() < 0.2 else None,
                )
            )
            for i in range(10):  # the customer, agents, a note, the bot: ten a ticket
                message_id += 1
                direction, author = (
                    ("in", "customer")
                    if i % 2 == 0 or not agent
                    else ("note", "agent")
                    if i == 9
                    else ("out", "agent")
                    if i < 3 or rng.random() < 0.5
                    else ("in", "customer")
                )
                moment = created + timedelta(seconds=60 * i)
                message_rows.append(
                    (
                        message_id,
                        n,
                        direction,
                        author,
                        agent if author == "agent" else None,
                        "webchat",
                        "A message of about this length, for the table's width.",
                        t(moment),
                        "n/a",
                    )
                )
            audit_rows.append((t(created), "customer", None, n, "ticket.created", "{}"))
            if done:
                audit_rows.append(
                    (
                        t(resolved),
                        "agent",
                        agent,
                        n,
                        "ticket.changed",
                        json.dumps({"before": {"status": "open"}, "after": {"status": status}}),
                    )
                )
                if rng.random() < 0.08:
                    audit_rows.append(
                        (t(resolved), "system", None, n, "ticket.reopened", '{"reason": "again"}')
                    )
            if complaint and done:
                complaint_rows.append((n, rng.choice(CAUSES), "fixed", agent, t(resolved)))
            for metric, target in (("first_response", 3600.0), ("resolution", 86_400.0)):
                breached = created + timedelta(seconds=target) if rng.random() < 0.15 else None
                timer_rows.append(
                    (
                        n,
                        metric,
                        "standard",
                        "always",
                        "x",
                        "met" if done else "running",
                        target,
                        0.0,
                        t(created),
                        t(breached),
                        t(created),
                        0,
                    )
                )
            if rng.random() < 0.4:
                kind = rng.choice(("answered", "handed_over", "refused"))
                decision_rows.append((n, kind, 0.5, "", "{}", t(created)))
        await load.load(
            "tickets",
            "id subject status priority kind channel customer_id assignee_id team_id created_at "
            "updated_at first_response_at resolved_at satisfaction recommend_score",
            ticket_rows,
        )
        await load.load(
            "messages",
            "id ticket_id direction author_type agent_id channel text created_at delivery_state",
            message_rows,
        )
        await load.load(
            "audit_entries", "at actor_type actor_id ticket_id action detail", audit_rows
        )
        await load.load(
            "complaint_resolutions",
            "ticket_id root_cause remedy resolved_by resolved_at",
            complaint_rows,
        )
        await load.load(
            "sla_timers",
            "ticket_id metric policy calendar fingerprint status target_seconds used_seconds "
            "started_at breached_at updated_at step",
            timer_rows,
        )
        await load.load(
            "kb_bot_decisions", "ticket_id kind threshold reason signals created_at", decision_rows
        )
        if not db.is_sqlite:  # ids given explicitly: move the sequences past them
            for table in ("teams", "agents", "accounts", "customers", "tickets", "messages"):
                await connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    async with db.engine.connect() as connection:
        # What autovacuum (PostgreSQL) or an operator (SQLite) does after a bulk load.
        await connection.exec_driver_sql("ANALYZE")
        await connection.commit()
    return tickets


EVERYTHING = Period(START - timedelta(days=1), START + timedelta(days=400))
# The last 30 days of the seeded year: what a dashboard usually asks.
MONTH = Period(START + timedelta(days=335), START + timedelta(days=365))


async def time_reports(
    db: Database, runs: int, group_by: GroupBy, period: Period
) -> dict[str, float]:
    query = ReportQuery(period, group_by)
    timings: dict[str, float] = {}
    for name in (*catalog.NAMES, "summary"):
        seconds = []
        for _ in range(runs):
            async with db.read() as session:
                started = time.perf_counter()
                if name == "summary":
                    await catalog.summary(session, query, with_value=True)
                else:
                    await catalog.run(session, name, query)
                seconds.append(time.perf_counter() - started)
        timings[name] = statistics.median(seconds)
    return timings


async def explain(db: Database, group_by: GroupBy) -> None:
    """Print PostgreSQL's plan (with times) of every statement a summary runs."""
    from sqlalchemy import event

    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            statements.append((sql, params))

    event.listen(db.engine.sync_engine, "before_cursor_execute", keep)
    async with db.read() as session:
        await catalog.summary(session, ReportQuery(EVERYTHING, group_by), with_value=True)
    event.remove(db.engine.sync_engine, "before_cursor_execute", keep)
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        for sql, params in statements:
            rows = await driver.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *params)
            print("\n" + sql[:300].replace("\n", " "))
            print("\n".join(row[0] for row in rows))


@contextlib.contextmanager
def database_url(database: str, data_dir: Path) -> Iterator[str]:
    if database == "sqlite":
        yield f"sqlite+aiosqlite:///{data_dir / 'helpdesk.db'}"
        return
    server = PostgresServer()
    try:
        server.start()
        yield server.create_database("bench")
    finally:
        server.stop()


Timings = dict[str, tuple[float, float]]


async def run(url: str, options: argparse.Namespace) -> tuple[int, float, Timings]:
    db = Database(url)
    try:
        await db.migrate()
        started = time.perf_counter()
        tickets = await seed(db, options.messages, random.Random(16))
        load_seconds = time.perf_counter() - started
        group_by = GroupBy(options.group_by)
        everything = await time_reports(db, options.runs, group_by, EVERYTHING)
        month = await time_reports(db, options.runs, group_by, MONTH)
        timings = {name: (everything[name], month[name]) for name in everything}
        if options.explain and not db.is_sqlite:
            await explain(db, group_by)
        return tickets, load_seconds, timings
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_arguments(parser)
    return reports(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--group-by", choices=[g.value for g in GroupBy], default="team")
    parser.add_argument("--explain", action="store_true", help="PostgreSQL's plans, after")


def reports(options: argparse.Namespace) -> int:
    databases = ["sqlite", "postgresql"] if options.db == "both" else [options.db]
    results = {}
    for database in databases:
        data_dir = Path(tempfile.mkdtemp(prefix=f"helpdesk-bench-reports-{database}-"))
        try:
            with database_url(database, data_dir) as url:
                results[database] = asyncio.run(run(url, options))
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(
        f"\nreports over {options.messages:,} messages, grouped by {options.group_by}, "
        f"median of {options.runs} runs, seconds"
    )
    print(f"{'':<26}" + "".join(f"{d:>24}" for d in databases))
    print(f"{'report':<26}" + "".join(f"{'all (1 year)':>12}{'last 30 d':>12}" for _ in databases))
    for name in (*catalog.NAMES, "summary"):
        cells = "".join(
            f"{results[d][2][name][0]:>12.3f}{results[d][2][name][1]:>12.3f}" for d in databases
        )
        print(f"{name:<26}{cells}")
    print(f"{'(seeding the desk, s)':<26}" + "".join(f"{results[d][1]:>24.1f}" for d in databases))
    print(f"{'(tickets)':<26}" + "".join(f"{results[d][0]:>24,}" for d in databases))
    print("target: each report under 2 s on PostgreSQL; a shared machine gives worse figures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
