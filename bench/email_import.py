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

  * acknowledgements: with the defaults (acknowledgements on) every message is from a new
    sender, so every one of the N new tickets gets an acknowledgement, sent to an SMTP sink (a
    separate aiosmtpd process). `acks msg/s` = N / the time from runtime start until the last
    acknowledgement was accepted by the SMTP server and recorded as sent: end to end.
  * replies: an agent's reply on each of those N tickets is committed (in batches of 500) while
    the outbox is stopped; `msg/s` = N / the time from starting the outbox until the SMTP server
    accepted the last one and the outbox recorded it.

Everything is as in production with the default settings. PostgreSQL runs with fsync on.

    python bench/email_import.py                    # both databases, 5,000 messages, 100 probes
    python bench/email_import.py --db sqlite --messages 2000 --probes 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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
from helpdesk.staff.models import Agent
from helpdesk.tickets import actions
from helpdesk.tickets.models import AuthorType, DeliveryState, Direction, Message, Ticket
from tests.support.dovecot import MAIL_USER, DovecotServer, ImapClient, Mailbox
from tests.support.postgres import PostgresServer, free_port

USER = "support@example.test"
PASSWORD = "bench-secret"


def sample(n: int) -> bytes:
    message = EmailMessage(policy=SMTP)
    # Each a new sender: every message opens a ticket that is acknowledged.
    message["From"] = f"Customer {n} <customer{n}@example.org>"
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


class SmtpSink:
    """aiosmtpd in a process of its own, accepting everything: the helpdesk's SMTP server."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink"),
                *("-l", f"127.0.0.1:{self.port}"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    if probe.recv(100).startswith(b"220"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the SMTP sink did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def settings_for(url: str, data_dir: Path, box: Mailbox, smtp_port: int):
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
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "tls": "none"},
            "from_address": USER,
        },
    )


async def committed_uid(runtime: Runtime) -> int:
    async with runtime.db.read() as session:
        checkpoint = await session.get(EmailCheckpoint, "bench")
        return checkpoint.last_uid if checkpoint else 0


async def sent(runtime: Runtime, author: AuthorType) -> int:
    async with runtime.db.read() as session:
        return (
            await session.scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.direction == Direction.OUT,
                    Message.author_type == author,
                    Message.delivery_state == DeliveryState.SENT,
                )
            )
            or 0
        )


@dataclass
class Figures:
    imported: float = 0.0
    acks: float = 0.0
    replies: float = 0.0
    cpu: str = ""


async def run_import(url: str, count: int, data_dir: Path, sink: SmtpSink) -> Figures:
    dovecot = DovecotServer(PASSWORD, accounts=1).start()
    figures = Figures()
    try:
        box = dovecot.mailbox()
        preload(box, count)
        async with ImapClient(box) as imap:
            assert await imap.count() == count  # Dovecot has indexed them: truly preloaded
        runtime = Runtime(settings_for(url, data_dir, box, sink.port))
        await runtime.db.migrate()
        tune_garbage_collector()
        roots = [os.getpid(), sink.process.pid]
        cpu = CpuMeter([*roots, dovecot.process.pid if dovecot.process else os.getpid()])
        cpu.start()
        started = time.perf_counter()
        await runtime.start(migrate=False)
        while await committed_uid(runtime) < count:  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.02)
        figures.imported = count / (time.perf_counter() - started)
        while await sent(runtime, AuthorType.SYSTEM) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        figures.acks = count / (time.perf_counter() - started)
        cpu.stop()
        figures.cpu = cpu.describe()
        async with runtime.db.read() as session:
            stored = await session.scalar(
                select(func.count()).select_from(Message).where(Message.direction == Direction.IN)
            )
        assert stored == count, f"stored {stored} of {count}"
        figures.replies = await run_replies(runtime, count)
        await runtime.stop()
        return figures
    finally:
        dovecot.stop()


async def run_replies(runtime: Runtime, count: int) -> float:
    """An agent's reply on every ticket, all committed while the outbox is stopped; then the
    time from starting it until all are sent: the outbox's sending rate."""
    await runtime.outbox.stop()
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        agent = Agent(email="bench@example.test", name="Bench", password_hash="-", created_at=now)
        session.add(agent)
    async with runtime.db.read() as session:
        ticket_ids = (await session.scalars(select(Ticket.id).order_by(Ticket.id))).all()
    for start in range(0, len(ticket_ids), 500):
        async with runtime.db.transaction() as session:
            tickets = (
                await session.scalars(
                    select(Ticket).where(Ticket.id.in_(ticket_ids[start : start + 500]))
                )
            ).all()
            for ticket in tickets:
                await actions.reply(session, agent, ticket, "We are on it.", now=now)
    started = time.perf_counter()
    runtime.outbox.start()
    while await sent(runtime, AuthorType.AGENT) < len(ticket_ids):  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    return len(ticket_ids) / (time.perf_counter() - started)


async def run_latency(url: str, probes: int, data_dir: Path, sink: SmtpSink) -> list[float]:
    dovecot = DovecotServer(PASSWORD, accounts=1).start()
    box = dovecot.mailbox()
    runtime = Runtime(settings_for(url, data_dir, box, sink.port))
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
    sink = SmtpSink()
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
                    figures = await run_import(url, options.messages, data_dir, sink)
                    n = options.messages
                    print(f"{kind:10} import   {n} preloaded:        {figures.imported:7.0f} msg/s")
                    print(f"{'':10} acks     {n} sent, end to end:  {figures.acks:7.0f} msg/s")
                    print(f"{'':10} replies  {n} sent, end to end:  {figures.replies:7.0f} msg/s")
                    print(f"{'':10} cpu      {figures.cpu}")
                else:
                    latencies = await run_latency(url, options.probes, data_dir, sink)
                    print(
                        f"{kind:10} latency  APPEND -> committed, {len(latencies)} probes: "
                        f"p50 {statistics.median(latencies) * 1000:.0f} ms, "
                        f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
                        f"max {max(latencies) * 1000:.0f} ms"
                    )
    finally:
        sink.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
