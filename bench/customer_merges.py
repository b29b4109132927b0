"""Merging customers and suggesting duplicates on SQLite and PostgreSQL.

What is measured:
  * `merge`        one customer with 200 tickets and 20,000 messages merged into another (every
                   row recorded for the undo), in its own transaction with the commit.
  * `undo`         that merge undone: the checks, the source recreated, every row moved back.
  * `suggestions`  every duplicate suggestion among 100,000 customers (each with an email
                   identity; 1,000 of them also on record on a second customer; 1,000 accounts of
                   100 contacts whose names are compared).

The machine is shared: run it quietly for figures to quote.

    python bench/customer_merges.py               # both databases
    python bench/customer_merges.py --db sqlite --customers 20000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpdesk.customers.duplicates import find_suggestions
from helpdesk.customers.merge import merge_customers
from helpdesk.customers.models import Account, Customer, Identity
from helpdesk.customers.settings import DuplicateSettings
from helpdesk.customers.unmerge import undo_merge
from helpdesk.storage.base import table_of
from helpdesk.storage.database import Database
from helpdesk.tickets.models import AuthorType, Direction, Message, Ticket
from tests.support.postgres import PostgresServer

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHUNK = 5_000
FIRST = ["Anna", "Ben", "Carla", "David", "Eva", "Felix", "Greta", "Hugo", "Ines", "Jonas"]
LAST = ["Smith", "Meyer", "Garcia", "Rossi", "Novak", "Dubois", "Silva", "Jansen", "Berg"]


async def _insert(db: Database, model: type, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with db.transaction() as session:
            await session.execute(insert(table_of(model)), rows[start : start + CHUNK])


async def populate(db: Database, customers: int, tickets: int, messages: int) -> tuple[int, int]:
    """The customers and accounts; returns (source, target) of the big merge."""
    random.seed(7)
    accounts = customers // 100
    await _insert(
        db,
        Account,
        [
            {"id": n, "name": f"Account {n}", "name_key": f"account {n}", "created_at": NOW,
             "updated_at": NOW}
            for n in range(1, accounts + 1)
        ],
    )  # fmt: skip
    await _insert(
        db,
        Customer,
        [
            {
                "id": n,
                "name": f"{random.choice(FIRST)} {random.choice(LAST)} {n % 37}",
                "tier": "standard",
                "created_at": NOW,
                "account_id": (n % accounts) + 1 if accounts else None,
                # Every hundredth customer has another one's address on record.
                "email": f"c{n - 1}@bench.test" if n % 100 == 0 else None,
            }
            for n in range(1, customers + 1)
        ],
    )
    await _insert(
        db,
        Identity,
        [
            {"id": n, "customer_id": n, "channel": "email", "address": f"c{n}@bench.test",
             "display_name": "", "created_at": NOW}
            for n in range(1, customers + 1)
        ],
    )  # fmt: skip
    source, target = 1, 2
    await _insert(
        db,
        Ticket,
        [
            {"id": n, "subject": f"Ticket {n}", "channel": "email", "customer_id": source,
             "created_at": NOW, "updated_at": NOW}
            for n in range(1, tickets + 1)
        ],
    )  # fmt: skip
    await _insert(
        db,
        Message,
        [
            {"id": n, "ticket_id": (n % tickets) + 1, "direction": Direction.IN,
             "author_type": AuthorType.CUSTOMER, "customer_id": source, "channel": "email",
             "text": f"message {n}", "created_at": NOW}
            for n in range(1, messages + 1)
        ],
    )  # fmt: skip
    return source, target


async def run(url: str, name: str, customers: int) -> list[str]:
    db = Database(url)
    await db.migrate()
    try:
        source, target = await populate(db, customers, tickets=200, messages=20_000)
        started = time.perf_counter()
        async with db.transaction() as session:
            merged = await merge_customers(session, source, target, now=NOW, reason="bench")
        merge_ms = (time.perf_counter() - started) * 1000
        assert merged is not None
        started = time.perf_counter()
        async with db.transaction() as session:
            await undo_merge(session, merged.merge_id, now=NOW)
        undo_ms = (time.perf_counter() - started) * 1000
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            async with db.read() as session:
                found = await find_suggestions(session, DuplicateSettings())
            timings.append((time.perf_counter() - started) * 1000)
        rows = sum(merged.moved.values())
        return [
            f"{name:<11} {'merge':<12} {rows:>8} rows {merge_ms:>9.0f}",
            f"{name:<11} {'undo':<12} {rows:>8} rows {undo_ms:>9.0f}",
            f"{name:<11} {'suggestions':<12} {len(found):>8} pairs {min(timings):>8.0f}"
            f" (best of 3; {customers:,} customers)",
        ]
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--customers", type=int, default=100_000)
    options = parser.parse_args()
    lines = []
    if options.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            lines += await run(
                f"sqlite+aiosqlite:///{folder}/bench.db", "sqlite", options.customers
            )
    if options.db in ("postgresql", "both"):
        server = PostgresServer(fsync=True).start()
        try:
            url = server.create_database("merges_bench")
            lines += await run(url, "postgresql", options.customers)
        finally:
            server.stop()
    print(f"\n{'database':<11} {'what':<12} {'size':>13} {'ms':>9}")
    for line in lines:
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
