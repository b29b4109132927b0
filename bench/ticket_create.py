"""Ticket creation through the HTTP API: agents opening tickets, on SQLite and PostgreSQL.

What is measured: `helpdesk serve` runs as a subprocess; this process drives it with `--clients`
concurrent clients (default 4, the figure django-helpdesk's REST API was measured with), each on
its own keep-alive connection, one request at a time (closed loop). Each request is
`POST /api/tickets` for a new customer found by a new phone number (or, with `--channel email`,
an agent writing first by email to a new address), with an idempotency key: customer, identity,
ticket, first message, audit trail and events committed in one transaction. The clients speak
HTTP/1.1 on raw sockets so that the client's own CPU stays small beside the server's.

How to read it:
  * `tickets/s`    201 answers per second in the measured window (after the warm-up).
  * `p50/p99/max`  time from sending the request to reading the whole answer, in ms.
  * `errors`       answers other than 201 (and broken connections).
  * `stored`       tickets in the database after the run, against the 201 answers of the run.
  * The cpu line shows CPU taken by other processes during the window; "CONTENDED" means the
    figures are worse than this machine can do when it runs only the benchmark.
  * `cpu per ticket`  CPU milliseconds per answered request of the clients, the server(s) and
    the database: what one ticket costs, whatever else runs (`bench/ticket_floor.py` writes
    the same rows with nothing around them).

`--processes N` runs N `helpdesk serve` processes on the one PostgreSQL database, the clients
spread over them as a proxy spreads connections. PostgreSQL runs with fsync and
synchronous_commit on.

    python bench/ticket_create.py                     # both databases, 4 clients, 10 s each
    python bench/ticket_create.py --db postgresql --clients 8 --seconds 20
    python bench/ticket_create.py --channel email
    python bench/ticket_create.py --db postgresql --processes 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cpu_meter import CpuMeter
from helpdesk.staff.accounts import add_agent
from helpdesk.staff.models import Role
from helpdesk.storage.database import Database
from helpdesk.tickets.models import Ticket
from tests.support.postgres import PostgresServer
from tests.support.server import HelpdeskServer

AGENT, PASSWORD = "bench@example.test", "bench password 123"
TARGET_RATE, TARGET_P99_MS = 500.0, 50.0
# django-helpdesk's REST API on this kind of machine, 4 clients (issue 19).
REFERENCE = ("django-helpdesk (REST API)", 105.0, 56.0)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


@dataclass
class Result:
    database: str
    window: float
    tally: Tally
    stored: int
    created: int
    cpu: CpuMeter


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.contextmanager
def database_url(database: str, folder: Path) -> Iterator[tuple[str, list[int]]]:
    if database == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'helpdesk.db'}", []
        return
    postgres = PostgresServer(fsync=True)
    try:
        postgres.start()
        pid = int((postgres.root / "data" / "postmaster.pid").read_text().split()[0])
        yield postgres.create_database("bench"), [pid]
    finally:
        postgres.stop()


async def seed(url: str) -> None:
    db = Database(url)
    try:
        await db.migrate()
        async with db.transaction() as session:
            await add_agent(
                session,
                email=AGENT,
                name="Bench Agent",
                password=PASSWORD,
                now=datetime.now(UTC),
                role=Role.SUPERVISOR,
            )
    finally:
        await db.dispose()


async def count_tickets(url: str) -> int:
    db = Database(url)
    try:
        async with db.read() as session:
            return await session.scalar(select(func.count()).select_from(Ticket)) or 0
    finally:
        await db.dispose()


def body_for(client: int, n: int, channel: str) -> bytes:
    number = f"+1555{client:02d}{n:07d}"
    message: dict[str, object]
    customer: dict[str, str]
    if channel == "email":
        customer = {"email": f"c{client}-{n}@customer.test", "name": f"Customer {client}-{n}"}
        # The customer asked (a call-back): no consent to proactive email is needed.
        message = {
            "channel": "email",
            "text": "Your replacement ships today.",
            "customer_asked": True,
        }
    else:
        customer = {"phone": number, "name": f"Caller {client}-{n}"}
        message = {"channel": "phone", "direction": "in", "text": "Router blinks red"}
        message["duration_seconds"] = 120
    return json.dumps(
        {
            "customer": customer,
            "subject": "Called about the router",
            "message": message,
            "priority": "normal",
            "idempotency_key": f"b{client}-{n}",
        }
    ).encode()


async def client(
    port: int,
    token: str,
    number: int,
    channel: str,
    until: float,
    measure_from: float,
    tally: Tally,
) -> int:
    """One keep-alive connection, one request at a time. Returns the 201s in the window."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    created = n = 0
    try:
        while time.monotonic() < until:
            n += 1
            body = body_for(number, n, channel)
            request = (
                f"POST /api/tickets HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            started = time.monotonic()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            if started < measure_from:
                continue
            if status == 201:
                created += 1
                tally.latencies.append(time.monotonic() - started)
            else:
                tally.error(f"HTTP {status}")
    except (OSError, asyncio.IncompleteReadError) as exc:
        tally.error(type(exc).__name__)
    finally:
        writer.close()
    return created


async def drive(servers: list[HelpdeskServer], options: argparse.Namespace, cpu: CpuMeter) -> Tally:
    async with httpx.AsyncClient(base_url=servers[0].base_url) as http:
        response = await http.post("/api/auth/login", json={"email": AGENT, "password": PASSWORD})
        response.raise_for_status()
        token = response.json()["token"]
    tally = Tally()
    start = time.monotonic()
    measure_from = start + options.warmup
    until = measure_from + options.seconds
    loop = asyncio.get_running_loop()
    loop.call_at(measure_from, cpu.start)
    await asyncio.gather(
        *(
            # Spread as a proxy spreads connections over the processes.
            client(
                servers[c % len(servers)].port,
                token,
                c,
                options.channel,
                until,
                measure_from,
                tally,
            )
            for c in range(options.clients)
        )
    )
    cpu.stop()
    return tally


def run_one(database: str, options: argparse.Namespace) -> Result:
    folder = Path(tempfile.mkdtemp(prefix="bench-tickets-"))
    try:
        with database_url(database, folder) as (url, pids):
            asyncio.run(seed(url))
            count = options.processes if database == "postgresql" else 1
            servers = [
                HelpdeskServer(folder / f"server-{n}", url).start(timeout=60) for n in range(count)
            ]
            try:
                processes = [s.process.pid for s in servers]  # type: ignore[union-attr]
                cpu = CpuMeter([os.getpid(), *processes, *pids])
                before = asyncio.run(count_tickets(url))
                tally = asyncio.run(drive(servers, options, cpu))
            finally:
                for server in servers:
                    server.stop()
            stored = asyncio.run(count_tickets(url)) - before
        return Result(database, options.seconds, tally, stored, len(tally.latencies), cpu)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def label(result: Result, options: argparse.Namespace) -> str:
    if result.database == "postgresql" and options.processes > 1:
        return f"helpdesk on postgresql, {options.processes} processes"
    return f"helpdesk on {result.database}"


def print_table(results: list[Result], options: argparse.Namespace) -> None:
    print(
        f"\nticket creation through POST /api/tickets: {options.clients} clients, closed loop, "
        f"{options.seconds:.0f} s after {options.warmup:.0f} s warm-up, first message: "
        f"{options.channel}"
    )
    header = f"{'':30} {'tickets/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}"
    print(header)
    print("-" * len(header))
    for r in results:
        ms = [v * 1000 for v in r.tally.latencies]
        rate = r.created / r.window
        errors = sum(r.tally.errors.values())
        met = rate >= TARGET_RATE and percentile(ms, 0.99) < TARGET_P99_MS
        verdict = "meets" if met else "MISSES"
        print(
            f"{label(r, options):30} {rate:10.0f} {percentile(ms, 0.5):8.1f} "
            f"{percentile(ms, 0.99):8.1f} {max(ms, default=float('nan')):8.1f} {errors:7d}"
            f"   {verdict} the target"
        )
    name, rate, p99 = REFERENCE
    print(f"{name:30} {rate:10.0f} {'':>8} {p99:8.1f}")
    print(f"{'target':30} {TARGET_RATE:10.0f} {'':>8} {TARGET_P99_MS:8.1f}")
    for r in results:
        print(f"\n{r.database}: cpu {r.cpu.describe()}")
        print(f"{r.database}: cpu per ticket {cpu_per_ticket(r)}")
        print(f"{r.database}: {r.stored} tickets stored by the run ({r.created} in the window)")
        if r.tally.errors:
            print(f"{r.database}: errors {r.tally.errors}")


def cpu_per_ticket(result: Result) -> str:
    """CPU milliseconds per answered ticket, by process: less sensitive to other load on the
    machine than the rate. The roots are this process (the clients), the server, the database."""
    sent = len(result.tally.latencies) + sum(result.tally.errors.values())
    if not sent or not result.cpu.by_root:
        return "not measured"
    seconds = list(result.cpu.by_root.values())
    servers = len(seconds) - 1 - (result.database == "postgresql")
    parts = {
        "clients": seconds[0],
        "server" if servers == 1 else f"{servers} servers": sum(seconds[1 : 1 + servers]),
        "database": sum(seconds[1 + servers :]),
    }
    shown = [f"{name} {1000 * value / sent:.2f} ms" for name, value in parts.items() if value]
    return ", ".join(shown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--channel", choices=["phone", "email"], default="phone")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="helpdesk serve processes on PostgreSQL (SQLite has one); clients spread over them",
    )
    options = parser.parse_args()
    databases = ["sqlite", "postgresql"] if options.db == "both" else [options.db]
    results = [run_one(database, options) for database in databases]
    print_table(results, options)


if __name__ == "__main__":
    main()
