"""Telegram: updates per second through polling into committed tickets, and the start-up time
of `helpdesk serve` with and without Telegram configured.

What is measured:
  * `upd/s`   a real `helpdesk serve` process polls a local Bot API server (tests/support/
              telegram_api.py, in this process) that holds N text updates from a pool of
              customers; the clock runs from the first getUpdates that returns updates until
              Telegram has been told (by the offset) that the last one is committed.
  * `start`   seconds from launching `helpdesk serve` until /api/health answers "ok", median of
              several runs, with no Telegram token and with one; with one also until the bot
              has set itself up with the Bot API (aiogram is imported only with a token, in a
              thread while the server already serves).

The check line compares stored Telegram messages with updates sent (must be equal). The Bot API
stand-in shares the machine's cores with the server, so the rate is a lower bound.

    python bench/telegram.py                     # both databases, 3000 updates each
    python bench/telegram.py --db sqlite --updates 5000 --customers 500
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select

from helpdesk.storage.database import Database
from helpdesk.tickets.models import Message, Ticket
from tests.support import telegram_api as tg
from tests.support.postgres import PostgresServer
from tests.support.server import HelpdeskServer

TARGET_PER_SECOND = 500


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--starts", type=int, default=3, help="start-up runs to take the median of")
    return parser.parse_args(argv)


def telegram_env(fake: tg.FakeTelegram) -> dict[str, str]:
    return {
        "HELPDESK_TELEGRAM__TOKEN": tg.TOKEN,
        "HELPDESK_TELEGRAM__API_BASE_URL": fake.base_url,
        "HELPDESK_TELEGRAM__POLL_TIMEOUT_SECONDS": "1",
    }


async def stored(database_url: str) -> tuple[int, int]:
    db = Database(database_url)
    try:
        async with db.read() as session:
            messages = await session.scalar(
                select(func.count()).select_from(Message).where(Message.channel == "telegram")
            )
            tickets = await session.scalar(
                select(func.count()).select_from(Ticket).where(Ticket.channel == "telegram")
            )
        return messages or 0, tickets or 0
    finally:
        await db.dispose()


def throughput(database_url: str, work: Path, updates: int, customers: int) -> dict[str, float]:
    fake = tg.FakeTelegram().start()
    server = HelpdeskServer(work / "throughput", database_url, **telegram_env(fake)).start()
    try:
        fake.wait_for("getWebhookInfo")
        users = [tg.user(10_000 + n) for n in range(customers)]
        fake.push_many(
            [tg.message_update(users[n % customers], f"update number {n}") for n in range(updates)]
        )
        started = time.monotonic()
        while fake.pending():
            time.sleep(0.005)
        elapsed = time.monotonic() - started
        messages, tickets = asyncio.run(stored(database_url))
    finally:
        server.stop()
        fake.stop()
    return {"rate": updates / elapsed, "seconds": elapsed, "messages": messages, "tickets": tickets}


def start_up(database_url: str, work: Path, runs: int, telegram: bool) -> tuple[float, float]:
    """Median seconds until /api/health says ok, and until the bot has finished its set-up
    with the Bot API (the same as the first figure without Telegram)."""
    fake = tg.FakeTelegram().start()
    env = telegram_env(fake) if telegram else {}
    serving, ready = [], []
    try:
        for run in range(runs):
            server = HelpdeskServer(work / f"start-{telegram}-{run}", database_url, **env)
            began = time.monotonic()
            server.start()
            serving.append(time.monotonic() - began)
            if telegram:
                fake.wait_for("getWebhookInfo", run + 1, timeout=60)
            ready.append(time.monotonic() - began)
            server.stop()
    finally:
        fake.stop()
    return statistics.median(serving), statistics.median(ready)


def bench(name: str, database_url: str, options: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"bench-telegram-{name}-"))
    result = throughput(database_url, work, options.updates, options.customers)
    plain, _ = start_up(database_url, work, options.starts, telegram=False)
    serving, ready = start_up(database_url, work, options.starts, telegram=True)
    verdict = "met" if result["rate"] >= TARGET_PER_SECOND else "NOT met"
    print(
        f"{name:10} {result['rate']:8.0f} upd/s  ({options.updates} updates in "
        f"{result['seconds']:.2f} s; target {TARGET_PER_SECOND}/s {verdict})"
    )
    ok = "ok" if result["messages"] == options.updates else "MISMATCH"
    print(
        f"{'':10} check: {result['messages']} messages stored for {options.updates} updates "
        f"({ok}), {result['tickets']} tickets"
    )
    print(
        f"{'':10} start-up: {plain:.2f} s without Telegram; with it {serving:.2f} s to serve, "
        f"{ready:.2f} s until the bot is polling"
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    print(f"Telegram polling: {options.updates} updates from {options.customers} customers")
    if options.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            bench("sqlite", f"sqlite+aiosqlite:///{folder}/helpdesk.db", options)
    if options.db in ("postgresql", "both"):
        postgres = PostgresServer(fsync=True).start()
        try:
            bench("postgresql", postgres.create_database("bench_telegram"), options)
        finally:
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
