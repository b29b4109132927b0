"""Recomputing every tier from value for 100,000 customers, on SQLite and PostgreSQL.

The database holds `--customers` customers (default 100,000) with values drawn from a Pareto
distribution (a tenth of them with no value), `--accounts` accounts (default 2,000) each with
some of those customers as contacts (a fifth of the customers) and half of them a value of
their own. Then the real recompute (`helpdesk/customers/tier_recompute.py`) runs three times:

  * `first`    every tier from scratch: the key set moves out of the default tier, one
               `tier_changes` row each.
  * `again`    nothing changed: the steady state of the schedule.
  * `churn`    after 1% of the customers got a new value.

Each row: units ranked (accounts + customers outside one), tiers changed, and the seconds of
the whole run (read, rank, write). Target: under 5 s for 100,000 customers on SQLite. The
machine may be shared: figures taken beside other work are worse than the code can do.

    python bench/customer_tiers.py                 # both databases
    python bench/customer_tiers.py --db sqlite --customers 20000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, update

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.databases import database_url
from helpdesk.common.clock import SystemClock
from helpdesk.customers.models import Account, Customer
from helpdesk.customers.settings import CustomersSettings
from helpdesk.customers.tier_recompute import TierRecompute
from helpdesk.staff import models as _staff_models  # noqa: F401  (accounts name agents)
from helpdesk.storage.database import Database

CHUNK = 10_000


@dataclass
class Row:
    database: str
    customers: int
    run: str
    units: int
    changed: int
    seconds: float
    phases: dict[str, float]
    tiers: dict[str, int]


def value(rng: random.Random) -> float | None:
    if rng.random() < 0.1:
        return None
    return round(100 * rng.paretovariate(1.16), 2)  # alpha 1.16: roughly 80/20


async def seed(db: Database, customers: int, accounts: int, rng: random.Random) -> float:
    started = time.perf_counter()
    now = datetime.now(UTC)
    async with db.transaction() as session:
        await session.execute(
            insert(Account),
            [
                {
                    "name": f"Account {n}",
                    "name_key": f"account {n}",
                    "value": value(rng) if n % 2 else None,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(accounts)
            ],
        )
    for start in range(0, customers, CHUNK):
        rows = [
            {
                "name": f"Customer {n}",
                "value": value(rng),
                "account_id": rng.randint(1, accounts) if accounts and rng.random() < 0.2 else None,
                "created_at": now,
            }
            for n in range(start, min(customers, start + CHUNK))
        ]
        async with db.transaction() as session:
            await session.execute(insert(Customer), rows)
    return time.perf_counter() - started


async def churn(db: Database, customers: int, rng: random.Random) -> None:
    """A new value for 1% of the customers."""
    changed = rng.sample(range(1, customers + 1), max(1, customers // 100))
    async with db.transaction() as session:
        for customer_id in changed:
            await session.execute(
                update(Customer).where(Customer.id == customer_id).values(value=value(rng))
            )


async def run(database: str, url: str, options: argparse.Namespace) -> list[Row]:
    db = Database(url)
    rng = random.Random(16)
    try:
        await db.migrate()
        seconds = await seed(db, options.customers, options.accounts, rng)
        print(f"{database}: seeded {options.customers:,} customers in {seconds:.1f} s", flush=True)
        recompute = TierRecompute(db, CustomersSettings(), SystemClock())
        rows = []
        for name in ("first", "again", "churn"):
            if name == "churn":
                await churn(db, options.customers, rng)
            outcome = await recompute.run()
            assert outcome is not None
            rows.append(
                Row(
                    database,
                    options.customers,
                    name,
                    outcome.units,
                    outcome.changed,
                    outcome.seconds,
                    outcome.phases,
                    outcome.tiers,
                )
            )
        return rows
    finally:
        await db.dispose()


def bench(database: str, options: argparse.Namespace) -> list[Row]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"helpdesk-bench-tiers-{database}-"))
    try:
        with database_url(database, data_dir) as url:
            return asyncio.run(run(database, url, options))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--db", choices=["sqlite", "postgres", "postgresql", "both"], default="both"
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=2_000)
    options = parser.parse_args(argv)
    databases = {
        "both": ["sqlite", "postgresql"],
        "postgres": ["postgresql"],
    }.get(options.db, [options.db])
    rows = [row for database in databases for row in bench(database, options)]
    print(
        f"\n{'database':<11}{'customers':>10}  {'run':<7}{'units':>9}{'changed':>9}"
        f"{'seconds':>9}{'read':>7}{'rank':>7}{'write':>7}  tiers"
    )
    for r in rows:
        tiers = ", ".join(f"{n:,} {tier}" for tier, n in r.tiers.items())
        print(
            f"{r.database:<11}{r.customers:>10,}  {r.run:<7}{r.units:>9,}{r.changed:>9,}"
            f"{r.seconds:>9.2f}{r.phases['read']:>7.2f}{r.phases['rank']:>7.2f}"
            f"{r.phases['write']:>7.2f}  {tiers}"
        )
    print(
        "target: each run under 5 s for 100,000 customers on SQLite; "
        "figures on a shared machine are worse than on a quiet one"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
