"""What this machine allows for opening tickets, whatever the application does: the ceiling that
`bench/ticket_create.py`'s figures are to be read against.

The same rows a phone ticket writes (customer, identity, ticket, first message, two audit
entries, one event with its NOTIFY) are inserted into helpdesk's own schema (migrated, with every
index and foreign key), in one transaction per ticket, on PostgreSQL with fsync on, by 4
concurrent writers, three ways:

  * `asyncpg`:         straight from this process: no HTTP, no framework, no ORM, no auth, no
                       idempotency look-up, no routing, no SLA; the database's floor.
  * `http + asyncpg`:  the same through a bare ASGI app under uvicorn (no framework), driven by
                       the raw-socket clients of `ticket_create.py`: the floor of one Python
                       process answering HTTP.
  * `cpu per ticket`:  CPU milliseconds per ticket spent by the server process, by PostgreSQL
                       and by the clients, in the HTTP run: 2 cores divided by their sum is the
                       most tickets a second this machine can give any Python server doing this.

    python bench/ticket_floor.py
    python bench/ticket_floor.py --seconds 20 --clients 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cpu_meter import CpuMeter
from bench.ticket_create import Tally, client, percentile
from helpdesk.storage.database import Database
from tests.support.postgres import PostgresServer, free_port

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def insert_ticket(connection: asyncpg.Connection, n: str) -> int:
    now = datetime.now(UTC)
    async with connection.transaction():
        customer = await connection.fetchval(
            "INSERT INTO customers (name, tier, created_at) VALUES ($1, 'standard', $2) "
            "RETURNING id",
            f"Caller {n}",
            now,
        )
        identity = await connection.fetchval(
            "INSERT INTO identities (customer_id, channel, address, display_name, unreachable, "
            "created_at, verified) VALUES ($1, 'phone', $2, $3, false, $4, false) RETURNING id",
            customer,
            f"+1555{n}",
            f"Caller {n}",
            now,
        )
        ticket = await connection.fetchval(
            "INSERT INTO tickets (subject, status, priority, kind, channel, customer_id, "
            "created_at, updated_at, first_response_at, last_customer_message_at, handed_over_at) "
            "VALUES ('Called about the router', 'open', 'normal', 'question', 'phone', $1, $2, "
            "$2, $2, $2, $2) RETURNING id",
            customer,
            now,
        )
        await connection.fetchval(
            "INSERT INTO messages (ticket_id, direction, author_type, customer_id, identity_id, "
            "channel, external_id, text, created_at, sent_at, delivery_state, duration_seconds) "
            "VALUES ($1, 'in', 'customer', $2, $3, 'phone', $4, 'Router blinks red', $5, $5, "
            "'n/a', 120) RETURNING id",
            ticket,
            customer,
            identity,
            f"touch:{n}",
            now,
        )
        await connection.executemany(
            "INSERT INTO audit_entries (at, actor_type, actor_id, ticket_id, action, detail) "
            "VALUES ($1, 'agent', 1, $2, $3, '{}')",
            [(now, ticket, "ticket.opened"), (now, ticket, "touch_point.logged")],
        )
        await connection.execute("SELECT pg_advisory_xact_lock(1)")
        await connection.execute(
            "INSERT INTO events (type, payload, created_at) VALUES ('TicketCreated', $1, $2)",
            json.dumps({"ticket_id": ticket}),
            now,
        )
        await connection.execute("SELECT pg_notify('bench', 'TicketCreated')")
    return int(ticket)


async def direct(dsn: str, writers: int, seconds: float) -> tuple[int, list[float]]:
    latencies: list[float] = []
    until = time.monotonic() + seconds

    async def writer(number: int) -> None:
        connection = await asyncpg.connect(dsn)
        n = 0
        try:
            while time.monotonic() < until:
                n += 1
                started = time.monotonic()
                await insert_ticket(connection, f"d{number:02d}{n:07d}")
                latencies.append(time.monotonic() - started)
        finally:
            await connection.close()

    await asyncio.gather(*(writer(w) for w in range(writers)))
    return len(latencies), latencies


def bare_app(dsn: str) -> ASGIApp:
    pool: list[asyncpg.Pool] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    pool.append(await asyncpg.create_pool(dsn, min_size=4, max_size=8))
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await pool[0].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = json.loads(body)
        async with pool[0].acquire() as connection:
            ticket = await insert_ticket(connection, request["idempotency_key"])
        answer = json.dumps({"ticket": {"id": ticket}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    return app


def serve(dsn: str, port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app(dsn), host="127.0.0.1", port=port, log_level="warning")


async def through_http(
    port: int, clients: int, seconds: float, warmup: float
) -> tuple[Tally, float]:
    tally = Tally()
    start = time.monotonic()
    measure_from = start + warmup
    until = measure_from + seconds
    created = await asyncio.gather(
        *(client(port, "none", c, "phone", until, measure_from, tally) for c in range(clients))
    )
    return tally, sum(created) / seconds


def line(name: str, rate: float, latencies: list[float]) -> str:
    ms = [v * 1000 for v in latencies]
    return (
        f"{name:34} {rate:9.0f} {percentile(ms, 0.5):8.1f} {percentile(ms, 0.99):8.1f} "
        f"{max(ms, default=float('nan')):8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    options = parser.parse_args()
    postgres = PostgresServer(fsync=True)
    postgres.start()
    try:
        url = postgres.create_database("floor")
        database = Database(url)
        asyncio.run(database.migrate())
        asyncio.run(database.dispose())
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        postgres_pid = int((postgres.root / "data" / "postmaster.pid").read_text().split()[0])

        count, latencies = asyncio.run(direct(dsn, options.clients, options.seconds))
        rows = [line("asyncpg, no HTTP", count / options.seconds, latencies)]

        port = free_port()
        server = multiprocessing.get_context("spawn").Process(target=serve, args=(dsn, port))
        server.start()
        try:
            time.sleep(3)
            assert server.pid is not None
            cpu = CpuMeter([os.getpid(), server.pid, postgres_pid])
            cpu.start()
            tally, rate = asyncio.run(
                through_http(port, options.clients, options.seconds, options.warmup)
            )
            cpu.stop()
        finally:
            server.terminate()
            server.join()
        rows.append(line("http + asyncpg (bare ASGI app)", rate, tally.latencies))
        # Everything sent during the warm-up as well: CPU is counted over the whole run.
        sent = len(tally.latencies) * (options.seconds + options.warmup) / options.seconds
        names = ("clients", "server", "postgresql")
        per_ticket = {
            name: 1000 * seconds / sent
            for name, seconds in zip(names, cpu.by_root.values(), strict=True)
        }
    finally:
        postgres.stop()

    print(
        f"\nthe floor: a phone ticket's rows (customer, identity, ticket, message, 2 audit "
        f"entries, 1 event + NOTIFY), one transaction each, PostgreSQL fsync on, "
        f"{options.clients} writers, {options.seconds:.0f} s"
    )
    header = f"{'':34} {'tickets/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(row)
    total = sum(per_ticket.values())
    parts = ", ".join(f"{name} {value:.2f}" for name, value in per_ticket.items())
    print(f"\ncpu per ticket through HTTP: {parts} ms; total {total:.2f} ms")
    print(
        f"at most {psutil.cpu_count()} cores / {total:.2f} ms = "
        f"{psutil.cpu_count() * 1000 / total:.0f} tickets/s on this machine for these rows alone"
    )
    if tally.errors:
        print(f"errors {tally.errors}")


if __name__ == "__main__":
    main()
