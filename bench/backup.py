"""Backup and restore of a SQLite helpdesk holding 1,000,000 messages.

What is measured: `helpdesk backup` and `helpdesk restore` as the CLI runs them (the same
functions, in this process, without progress bars), on a database built here: 50,000 customers
with an identity each, 100,000 tickets, 1,000,000 messages of 40-400 characters (about 220 on
average, like chat and short mail), migrated to the newest schema.

    python bench/backup.py                     # 1,000,000 messages, .tar and .tar.gz
    python bench/backup.py --messages 200000   # smaller, quicker

Columns: `database` is the SQLite file's size; `backup s` and `restore s` wall-clock seconds;
`archive` the backup file's size. The restore includes SQLite's quick_check and the row counts
it compares with the backup's manifest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpdesk.config import load_settings
from helpdesk.operations.backup import backup
from helpdesk.operations.restore import restore
from helpdesk.storage.database import Database

WHEN = "2026-03-02 09:00:00.000000"
WORDS = (
    "order",
    "card",
    "refund",
    "invoice",
    "delivery",
    "parcel",
    "account",
    "password",
    "please",
    "thanks",
    "help",
    "where",
    "when",
    "why",
    "payment",
    "declined",
    "shop",
    "address",
    "change",
    "cancel",
    "subscription",
    "tomorrow",
    "today",
    "urgent",
)


async def build(path: Path, messages: int) -> None:
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.migrate()
    await db.dispose()
    tickets = max(1, messages // 10)
    customers = max(1, tickets // 2)
    rng = random.Random(18)
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        con.executemany(
            "INSERT INTO customers (id, name, tier, created_at) VALUES (?, ?, 'standard', ?)",
            ((c, f"Customer {c}", WHEN) for c in range(1, customers + 1)),
        )
        con.executemany(
            "INSERT INTO identities (id, customer_id, channel, address, display_name, "
            "unreachable, created_at) VALUES (?, ?, 'webchat', ?, '', 0, ?)",
            ((c, c, f"visitor-{c}", WHEN) for c in range(1, customers + 1)),
        )
        con.executemany(
            "INSERT INTO tickets (id, subject, status, priority, kind, channel, customer_id, "
            "created_at, updated_at) VALUES (?, ?, 'open', 'normal', 'question', 'webchat', ?, "
            "?, ?)",
            ((t, f"Ticket {t}", (t % customers) + 1, WHEN, WHEN) for t in range(1, tickets + 1)),
        )

        def rows():  # type: ignore[no-untyped-def]
            for m in range(1, messages + 1):
                ticket = (m % tickets) + 1
                text = " ".join(rng.choices(WORDS, k=rng.randint(6, 60)))
                yield (
                    m,
                    ticket,
                    "in",
                    "customer",
                    (ticket % customers) + 1,
                    "webchat",
                    f"visitor-{ticket}:{m}",
                    text,
                    WHEN,
                )

        con.executemany(
            "INSERT INTO messages (id, ticket_id, direction, author_type, customer_id, channel, "
            "external_id, text, created_at, delivery_state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'n/a')",
            rows(),
        )
        con.commit()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def run(messages: int, keep: Path | None) -> None:
    work = Path(tempfile.mkdtemp(prefix="helpdesk-bench-backup-"))
    try:
        source = work / "source"
        source.mkdir()
        started = time.monotonic()
        await build(source / "helpdesk.db", messages)
        built = time.monotonic() - started
        size = (source / "helpdesk.db").stat().st_size
        print(f"built {messages:,} messages in {built:.1f} s; database {size / 1e6:.0f} MB\n")
        print(f"{'archive':<14} {'database':>10} {'backup s':>9} {'archive':>10} {'restore s':>10}")
        settings = load_settings(data_dir=source, secret_key="b" * 40)
        for name in ("backup.tar", "backup.tar.gz"):
            archive = work / name
            report = await backup(settings, archive, progress=False)
            target = work / f"restored-{name}"
            restored = load_settings(data_dir=target, secret_key="b" * 40)
            result = await restore(restored, archive, progress=False)
            assert result.counts["messages"] == messages
            print(
                f"{name:<14} {size / 1e6:>8.0f}MB {report.seconds:>9.1f} "
                f"{report.size / 1e6:>8.0f}MB {result.seconds:>10.1f}"
            )
            shutil.rmtree(target)
            if keep is None:
                archive.unlink()
            else:
                archive.replace(keep / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="Keep the archives in this folder")
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.keep))


if __name__ == "__main__":
    main()
