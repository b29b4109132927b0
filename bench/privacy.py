"""Export, erasure and retention speed on SQLite and PostgreSQL.

What is measured:
  * `export`     the ZIP of a customer with 1,000 tickets, 10,000 messages and 1,000 files.
  * `erase`      erasing that customer (one transaction, then the write-ahead log emptied).
  * `retention`  erasing the content of 20,000 closed tickets (60,000 messages, 20,000 files)
                 in batches of `customers.retention_batch` (200), one transaction each.

The machine is shared: run it quietly for figures to quote.

    python bench/privacy.py                 # both databases
    python bench/privacy.py --db sqlite --closed 5000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from helpdesk.channels.email.erasure import erase_email
from helpdesk.channels.telegram.erasure import erase_telegram
from helpdesk.common.clock import FixedClock
from helpdesk.customers.models import Customer, Identity
from helpdesk.customers.privacy import Privacy
from helpdesk.customers.settings import CustomersSettings
from helpdesk.storage.attachments import AttachmentBlob, AttachmentStore
from helpdesk.storage.base import table_of
from helpdesk.storage.database import Database
from helpdesk.tickets.models import Attachment, Message, Ticket, TicketStatus

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BIG_TICKETS, BIG_MESSAGES = 1_000, 10
CLOSED_MESSAGES = 3
CHUNK = 2_000


async def _insert(db: Database, model: type, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with db.write_connection() as connection:
            await connection.execute(insert(table_of(model)), rows[start : start + CHUNK])


async def populate(db: Database, closed: int) -> int:
    """The big customer (returned) and `closed` old closed tickets of 1,000 others."""
    customers = [
        {"id": n, "name": f"Customer {n}", "email": f"c{n}@customer.test", "created_at": NOW}
        for n in range(1, 1_002)
    ]
    await _insert(db, Customer, customers)
    await _insert(
        db,
        Identity,
        [
            {"customer_id": c["id"], "channel": "email", "address": c["email"], "created_at": NOW}
            for c in customers
        ],
    )
    big = 1
    old = NOW - timedelta(days=400)
    tickets = [
        {
            "id": n,
            "subject": f"Ticket {n} about the invoice",
            "channel": "email",
            "customer_id": big,
            "status": TicketStatus.OPEN,
            "created_at": NOW,
            "updated_at": NOW,
            # Every row names the same columns: an executemany takes them from the first.
            "closed_at": None,
        }
        for n in range(1, BIG_TICKETS + 1)
    ] + [
        {
            "id": BIG_TICKETS + n,
            "subject": f"Old ticket {n}",
            "channel": "webchat",
            "customer_id": 2 + n % 1_000,
            "status": TicketStatus.CLOSED,
            "created_at": old,
            "updated_at": old,
            "closed_at": old,
        }
        for n in range(1, closed + 1)
    ]
    await _insert(db, Ticket, tickets)
    messages, files, blobs, message_id = [], [], [], 0
    for ticket in tickets:
        count = BIG_MESSAGES if ticket["customer_id"] == big else CLOSED_MESSAGES
        for k in range(count):
            message_id += 1
            messages.append(
                {
                    "id": message_id,
                    "ticket_id": ticket["id"],
                    "direction": "in" if k % 2 == 0 else "out",
                    "author_type": "customer" if k % 2 == 0 else "agent",
                    "channel": ticket["channel"],
                    "external_id": f"m-{message_id}@customer.test",
                    "text": f"Message {message_id}: my order number {message_id} is late " * 3,
                    "created_at": ticket["created_at"],
                }
            )
            if k == 0:
                digest = f"{message_id:064x}"
                files.append(
                    {
                        "message_id": message_id,
                        "filename": f"f{message_id}.pdf",
                        "content_type": "application/pdf",
                        "size": 1024,
                        "sha256": digest,
                    }
                )
                blobs.append(
                    {"sha256": digest, "size": 1024, "data": b"x" * 1024, "created_at": NOW}
                )
    await _insert(db, Message, messages)
    await _insert(db, AttachmentBlob, blobs)
    await _insert(db, Attachment, files)
    return big


async def run(url: str, name: str, closed: int) -> list[str]:
    clock = FixedClock(NOW)
    db = Database(url, clock=clock)
    try:
        await db.migrate()
        started = time.perf_counter()
        big = await populate(db, closed)
        if not db.is_sqlite:
            async with db.engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text("ANALYZE"))
        print(f"[{name}] populated in {time.perf_counter() - started:.1f} s", flush=True)
        store = AttachmentStore(db, clock)
        settings = CustomersSettings(retention_days=30)
        privacy = Privacy(db, clock, store, settings, erasers=(erase_email, erase_telegram))

        started = time.perf_counter()
        data = await privacy.export(big, actor_id=None)
        exported = time.perf_counter() - started
        started = time.perf_counter()
        erased = await privacy.erase(big, actor_id=None)
        erasing = time.perf_counter() - started
        assert erased.tickets == BIG_TICKETS and erased.files == BIG_TICKETS
        started = time.perf_counter()
        kept = await privacy.retention()
        keeping = time.perf_counter() - started
        assert kept == closed, kept
        async with db.read() as session:
            left = await session.scalar(select(func.count()).select_from(Attachment))
        assert left == 0, left
    finally:
        await db.dispose()
    big_messages = BIG_TICKETS * BIG_MESSAGES
    return [
        f"{name:<10} {'export':<10} {big_messages:>7} {exported:>8.2f}   "
        f"{len(data) // 1024} KiB ZIP",
        f"{name:<10} {'erase':<10} {big_messages:>7} {erasing:>8.2f}   "
        f"{BIG_TICKETS} tickets, {BIG_TICKETS} files, one transaction",
        f"{name:<10} {'retention':<10} {closed * CLOSED_MESSAGES:>7} {keeping:>8.2f}   "
        f"{closed} tickets, {closed / keeping:.0f} tickets/s in batches of "
        f"{settings.retention_batch}",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--closed", type=int, default=20_000)
    options = parser.parse_args()
    lines = []
    if options.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            lines += await run(url, "sqlite", options.closed)
    if options.db in ("postgresql", "both"):
        from tests.support.postgres import PostgresServer

        server = PostgresServer(fsync=True).start()
        try:
            url = server.create_database("privacy_bench")
            lines += await run(url, "postgresql", options.closed)
        finally:
            server.stop()
    print(f"\n{'database':<10} {'what':<10} {'messages':>7} {'seconds':>8}")
    for line in lines:
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
