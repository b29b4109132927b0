"""Email import rate and APPEND-to-ticket latency, against a real Dovecot, on SQLite and
PostgreSQL.

What is measured:
  * import: N messages (default 5,000; different senders, some with attachments' worth of text)
    are preloaded into the Dovecot mailbox before the helpdesk starts; the clock runs from
    runtime start until the mailbox checkpoint says the last UID is committed. Every message is
    fetched over IMAP, parsed, threaded, stored with its customer and ticket, checkpointed in the
    same transaction, and marked \\Seen on the server. `msg/s` = N / that time.
  * latency: with the mailbox waiting in IDLE, a second IMAP connection APPENDs one message at a
    time; the time from the APPEND call to the message being committed (visible in the database)
    is recorded. p50/p95/max in ms. Target p95 < 1.5 s.

Automatic acknowledgements are off (there is no SMTP server here); everything else is as in
production. PostgreSQL runs with fsync on.

    python bench/email_import.py                    # both databases, 5,000 messages, 100 probes
    python bench/email_import.py --db sqlite --messages 2000 --probes 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select

from bench.cpu_meter import CpuMeter
from helpdesk.channels.email.models import EmailCheckpoint
from helpdesk.config import load_settings
from helpdesk.runtime import Runtime, tune_garbage_collector
from helpdesk.tickets.models import Message
from tests.support.dovecot import MAIL_USER, DovecotServer, ImapClient, Mailbox
from tests.support.postgres import PostgresServer

USER = "support@example.test"
PASSWORD = "bench-secret"


def sample(n: int) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = f"Customer {n % 997} <customer{n % 997}@example.org>"
    message["To"] = USER
    message["Subject"] = f"Question number {n} about my order"
    message["Message-ID"] = f"<bench-{n}-{time.time_ns()}@example.org>"
    message["Date"] = "Mon, 02 Mar 2026 09:00:00 +0000"
    body = f"Hello,\n\nmy order {n} has not arrived yet. Could you look into it?\n\nThanks\n"
    message.set_content(body)
    if n % 3 == 0:
        message.add_alternative(
            f"<p>Hello,</p><p>my order <b>{n}</b> has not arrived.</p>", subtype="html"
        )
    return message.as_bytes()


def preload(box: Mailbox, count: int) -> None:
    """Drop the messages straight into the Maildir: what a mail server delivering them did."""
    home = box.server.dir / "mail" / box.user
    maildir = home / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (maildir / "new" / f"{1_700_000_000 + n}.M{n}P1.bench").write_bytes(sample(n))
    for path in [home, *home.rglob("*")]:
        shutil.chown(path, MAIL_USER, MAIL_USER)


def settings_for(url: str, data_dir: Path, box: Mailbox):
    return load_settings(
        data_dir=data_dir,
        database_url=url,
        secret_key="bench-secret-key-that-is-long-enough-0123456789",
        email={
            "mailboxes": [
                {
                    "name": "bench",
                    "host": "127.0.0.1",
                    "port": box.port,
                    "tls": "none",
                    "user": box.user,
                    "password": box.password,
                    "fetch_batch": 250,
                }
            ],
            "from_address": USER,
            "auto_ack": False,
        },
    )


async def committed_uid(runtime: Runtime) -> int:
    async with runtime.db.read() as session:
        checkpoint = await session.get(EmailCheckpoint, "bench")
        return checkpoint.last_uid if checkpoint else 0


async def run_import(url: str, count: int, data_dir: Path) -> tuple[float, str]:
    dovecot = DovecotServer(PASSWORD, accounts=1).start()
    try:
        box = dovecot.mailbox()
        preload(box, count)
        async with ImapClient(box) as imap:
            assert await imap.count() == count  # Dovecot has indexed them: truly preloaded
        runtime = Runtime(settings_for(url, data_dir, box))
        await runtime.db.migrate()
        tune_garbage_collector()
        cpu = CpuMeter([os.getpid(), dovecot.process.pid if dovecot.process else os.getpid()])
        cpu.start()
        started = time.perf_counter()
        await runtime.start(migrate=False)
        while await committed_uid(runtime) < count:  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        cpu.stop()
        async with runtime.db.read() as session:
            stored = await session.scalar(select(func.count()).select_from(Message))
        await runtime.stop()
        assert stored == count, f"stored {stored} of {count}"
        return count / elapsed, cpu.describe()
    finally:
        dovecot.stop()


async def run_latency(url: str, probes: int, data_dir: Path) -> list[float]:
    dovecot = DovecotServer(PASSWORD, accounts=1).start()
    box = dovecot.mailbox()
    runtime = Runtime(settings_for(url, data_dir, box))
    try:
        await runtime.start()
        while not all(w.status.idle for w in runtime.email.workers):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        latencies: list[float] = []
        async with ImapClient(box) as imap:
            for n in range(probes):
                raw = sample(100_000 + n)
                message_id = raw.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode()
                started = time.perf_counter()
                await imap.append(raw)
                while True:
                    async with runtime.db.read() as session:
                        found = await session.scalar(
                            select(Message.id).where(Message.external_id == f"bench:{message_id}")
                        )
                    if found:
                        break
                    await asyncio.sleep(0.005)
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.05)
        return latencies
    finally:
        await runtime.stop()
        dovecot.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--probes", type=int, default=100)
    options = parser.parse_args()
    postgres = PostgresServer(fsync=True).start() if options.db != "sqlite" else None
    work = Path(tempfile.mkdtemp(prefix="helpdesk-bench-email-"))
    try:
        for kind in ("sqlite", "postgresql"):
            if options.db not in (kind, "both"):
                continue
            for phase in ("import", "latency"):
                data_dir = work / f"{kind}-{phase}"
                if kind == "sqlite":
                    url = f"sqlite+aiosqlite:///{data_dir / 'helpdesk.db'}"
                else:
                    assert postgres is not None
                    url = postgres.create_database(f"bench_email_{phase}")
                if phase == "import":
                    rate, cpu = await run_import(url, options.messages, data_dir)
                    print(f"{kind:10} import   {options.messages} preloaded: {rate:7.0f} msg/s")
                    print(f"{'':10} cpu      {cpu}")
                else:
                    latencies = await run_latency(url, options.probes, data_dir)
                    print(
                        f"{kind:10} latency  APPEND -> committed, {len(latencies)} probes: "
                        f"p50 {statistics.median(latencies) * 1000:.0f} ms, "
                        f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
                        f"max {max(latencies) * 1000:.0f} ms"
                    )
    finally:
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
