"""The SLA scheduler with 1,000,000 running timers, on SQLite and PostgreSQL.

What is measured, on a database holding `--timers` running timers (two per ticket: first
response and resolution), nearly all of them due days from now:

  * `start`       the scheduler's start: the check for timers computed under an older policy
                  (one DISTINCT over the running timers) and the first look at the next due moment.
  * `RSS +`       how much this process's resident memory grew from before the scheduler started
                  to after it fired the burst: the scheduler keeps no timer in memory.
  * `claim p99`   one claim of a batch of due timers (`--batch`, SELECT ... FOR UPDATE SKIP LOCKED
                  on PostgreSQL) in its own transaction, rolled back, repeated; in ms.
  * `lag p50/p99/max`  `--burst` timers (10,000) fall due spread over `--window` seconds (60: the
                  same minute); the real scheduler (its own loop, system clock) fires them. Lag is
                  from a timer's due moment to the commit of the transaction that fired it.
  * `fired`       escalations recorded / timers in the burst (must be equal: each once).

Rows are generated with bulk inserts. PostgreSQL runs with fsync on. The machine may be shared:
figures taken beside other work are worse than the code can do.

    python bench/sla.py                       # both databases, 1,000,000 timers
    python bench/sla.py --db sqlite --timers 200000 --window 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from sqlalchemy import bindparam, func, select, update

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.databases import database_url
from helpdesk.common.clock import SystemClock
from helpdesk.customers.models import Customer
from helpdesk.sla.models import Escalation, SlaTimer
from helpdesk.sla.policies import PolicyBook
from helpdesk.sla.scheduler import SlaScheduler, claim_due
from helpdesk.sla.service import SlaService
from helpdesk.sla.settings import SlaSettings
from helpdesk.storage.base import table_of
from helpdesk.storage.database import Database

CHUNK = 20_000


@dataclass
class Result:
    database: str
    timers: int
    load_seconds: float
    start_seconds: float
    rss_growth_mb: float
    claim_p50_ms: float
    claim_p99_ms: float
    lag_p50: float
    lag_p99: float
    lag_max: float
    fired: int
    burst: int


async def load(db: Database, book: PolicyBook, timers: int) -> None:
    """Tickets and their two timers, every one due days from now."""
    now = datetime.now(UTC)
    standard = book.match(kind="question", priority="normal", tier="standard", team=None)
    day = timedelta(hours=24)
    async with db.transaction() as session:
        customer = Customer(name="Bench customer", created_at=now)
        session.add(customer)
        await session.flush()
        customer_id = customer.id
    # Straight to the driver (executemany with positional rows): no per-value type processing.
    # SQLite stores times as text in SQLAlchemy's format; asyncpg takes datetime objects.
    stamp = _sqlite_time if db.is_sqlite else (lambda moment: moment)
    mark = "?" if db.is_sqlite else "$"
    ticket_sql = _insert_sql(
        "tickets",
        "id subject status priority kind channel customer_id created_at updated_at",
        mark,
    )
    timer_sql = _insert_sql(
        "sla_timers",
        "ticket_id metric policy calendar fingerprint status target_seconds used_seconds "
        "started_at resumed_at due_at next_fire_at step updated_at",
        mark,
    )
    match_fields = (standard.policy.name, standard.calendar.name, standard.fingerprint, "running")
    tickets = timers // 2
    for first in range(0, tickets, CHUNK):
        numbers = range(first + 1, min(first + CHUNK, tickets) + 1)
        created = (stamp(now), stamp(now))
        ticket_rows = [
            (n, f"Bench ticket {n}", "open", "normal", "question", "webchat", customer_id, *created)
            for n in numbers
        ]
        timer_rows = []
        for n in numbers:
            for metric, hours in (("first_response", 24), ("resolution", 120)):
                due = now + timedelta(days=2 + n % 5, seconds=n % 86_400)
                started = due - timedelta(hours=hours)
                warn = started + day * hours / 24 * 0.8
                timer_rows.append(
                    (
                        n,
                        metric,
                        *match_fields,
                        hours * 3600.0,
                        0.0,
                        stamp(started),
                        stamp(started),
                        stamp(due),
                        stamp(warn),
                        0,
                        stamp(now),
                    )
                )
        async with db.engine.begin() as connection:
            await connection.exec_driver_sql(ticket_sql, ticket_rows)
            await connection.exec_driver_sql(timer_sql, timer_rows)


def _insert_sql(table: str, columns: str, mark: str) -> str:
    names = columns.split()
    if mark == "?":
        marks = ", ".join("?" for _ in names)
    else:
        marks = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"


def _sqlite_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def plan_burst(db: Database, burst: list[datetime]) -> None:
    """The first-response timers of tickets 1..len(burst) breach at these moments (their
    warning has fired already)."""
    timers_table = table_of(SlaTimer)
    rows = [
        {
            "n": n,
            "due": due,
            "started": due - timedelta(hours=24),
        }
        for n, due in enumerate(burst, start=1)
    ]
    statement = (
        update(timers_table)
        .where(
            timers_table.c.ticket_id == bindparam("n"), timers_table.c.metric == "first_response"
        )
        .values(
            due_at=bindparam("due"),
            next_fire_at=bindparam("due"),
            started_at=bindparam("started"),
            resumed_at=bindparam("started"),
            step=1,
        )
    )
    async with db.engine.begin() as connection:
        await connection.execute(statement, rows)


async def claim_timings(db: Database, batch: int, rounds: int) -> list[float]:
    """Claims of a batch of due timers, each in its own transaction, rolled back."""
    timings = []
    far = datetime.now(UTC) + timedelta(days=30)  # everything is due then: a full batch
    for _ in range(rounds):
        async with db.engine.connect() as connection:
            started = time.perf_counter()
            async with db.sessions(bind=connection) as session, session.begin():
                claimed = await claim_due(session, far, batch, db.is_sqlite)
                timings.append(time.perf_counter() - started)
                assert len(claimed) == batch
                await session.rollback()
    return timings


class TimedDatabase(Database):
    """Notes when each firing transaction committed, and which timers it claimed."""

    commits: list[tuple[float, list[int]]]

    @contextlib.asynccontextmanager
    async def transaction(self):  # type: ignore[no-untyped-def,override]
        async with super().transaction() as session:
            yield session
            claimed = [obj.id for obj in session.identity_map.values() if isinstance(obj, SlaTimer)]
        self.commits.append((time.time(), claimed))


async def run(database: str, url: str, options: argparse.Namespace) -> Result:
    settings = SlaSettings()
    book = PolicyBook(settings)
    db = TimedDatabase(url, clock=SystemClock())
    db.commits = []
    await db.migrate()
    load_started = time.perf_counter()
    await load(db, book, options.timers)
    load_seconds = time.perf_counter() - load_started
    async with db.engine.begin() as connection:
        # What autovacuum (PostgreSQL) or an operator (SQLite) does after a bulk load.
        await connection.exec_driver_sql("ANALYZE")
    claims = await claim_timings(db, options.batch, options.claims)
    # The burst: due from a few seconds after the scheduler starts, spread over the window.
    begin = datetime.now(UTC) + timedelta(seconds=5)
    step = options.window / options.burst
    burst = [begin + timedelta(seconds=i * step) for i in range(options.burst)]
    await plan_burst(db, burst)

    process = psutil.Process(os.getpid())
    rss_before = process.memory_info().rss
    scheduler = SlaScheduler(db, SystemClock(), SlaService(SystemClock(), book), settings)
    started = time.perf_counter()
    await scheduler.start()  # the check for stale timers
    await scheduler.next_due()  # what its loop asks first
    start_seconds = time.perf_counter() - started
    db.commits = []
    await asyncio.sleep((burst[-1] - datetime.now(UTC)).total_seconds() + 5)
    await scheduler.stop()
    rss_growth = (process.memory_info().rss - rss_before) / 2**20

    due_of = {n: due for n, due in enumerate(burst, start=1)}  # ticket n's timer is id 2n-1
    lags = []
    for committed, claimed in db.commits:
        for timer_id in claimed:
            ticket = (timer_id + 1) // 2
            if timer_id % 2 == 1 and ticket in due_of:
                lags.append(committed - due_of[ticket].timestamp())
    async with db.read() as session:
        fired = await session.scalar(select(func.count()).select_from(Escalation))
    await db.dispose()
    lags.sort()
    return Result(
        database=database,
        timers=options.timers,
        load_seconds=load_seconds,
        start_seconds=start_seconds,
        rss_growth_mb=rss_growth,
        claim_p50_ms=statistics.median(claims) * 1000,
        claim_p99_ms=_percentile(claims, 0.99) * 1000,
        lag_p50=_percentile(lags, 0.5),
        lag_p99=_percentile(lags, 0.99),
        lag_max=max(lags) if lags else float("nan"),
        fired=fired or 0,
        burst=options.burst,
    )


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench(database: str, options: argparse.Namespace) -> Result:
    data_dir = Path(tempfile.mkdtemp(prefix=f"helpdesk-bench-sla-{database}-"))
    try:
        with database_url(database, data_dir) as url:
            return asyncio.run(run(database, url, options))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--timers", type=int, default=1_000_000)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--claims", type=int, default=300)
    options = parser.parse_args(argv)
    if options.burst > options.timers // 2:
        parser.error("--burst must be at most half of --timers (one first-response timer each)")
    databases = ["sqlite", "postgresql"] if options.db == "both" else [options.db]
    results = [bench(database, options) for database in databases]
    print(
        f"\n{'database':<11}{'timers':>10}{'load s':>8}{'start s':>8}{'RSS +MB':>9}"
        f"{'claim p50':>10}{'claim p99':>10}{'lag p50':>9}{'lag p99':>9}{'lag max':>9}"
        f"{'fired':>13}"
    )
    for r in results:
        print(
            f"{r.database:<11}{r.timers:>10,}{r.load_seconds:>8.1f}{r.start_seconds:>8.2f}"
            f"{r.rss_growth_mb:>9.1f}{r.claim_p50_ms:>8.2f}ms{r.claim_p99_ms:>8.2f}ms"
            f"{r.lag_p50:>8.3f}s{r.lag_p99:>8.3f}s{r.lag_max:>8.3f}s"
            f"{r.fired:>7,}/{r.burst:<,}"
        )
    print(
        "targets: claim p99 < 10 ms, lag p99 < 1 s, fired == burst; "
        "figures on a shared machine are worse than on a quiet one"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
