"""CPU a phone ticket costs the server, without HTTP, measured in-process: steadier than a rate.

`bench/ticket_create.py` gives the rate a user sees, but on a shared machine that rate drifts by a
fifth between moments, which hides changes of a few percent. This measures CPU time (not wall
time) of the same work in one process, on PostgreSQL:

  * `request`    what `POST /api/tickets` does for a call from a new number, less HTTP and auth:
                 the contact's look-up (`opening.plan`) and the one-statement write
                 (`opening.open_on_touch_point_at_once`), 4 concurrent writers.
  * `+ reactions` the same with a running `Runtime`: the dispatcher hands each ticket to routing
                 and the SLA (and the broadcasts), until every reaction has caught up; the
                 difference from `request` is what the reactions cost a ticket.

Each line is the best of `--rounds` rounds of `--tickets` tickets (the first round warms up and is
not counted). The `cpu per ticket` of `ticket_create.py` adds HTTP, FastAPI and auth to the second.

    python bench/ticket_cpu.py
    python bench/ticket_cpu.py --tickets 3000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ticket_create import AGENT, seed
from helpdesk.config import load_settings
from helpdesk.runtime import Runtime, tune_garbage_collector
from helpdesk.staff.models import Agent
from helpdesk.storage.database import Database
from helpdesk.tickets import opening
from helpdesk.tickets.models import Direction
from tests.support.postgres import PostgresServer

WRITERS = 4
SECRET = "bench-secret-key-that-is-long-enough-0123456789"


def a_call(tag: str, writer: int, n: int) -> opening.Opening:
    return opening.Opening(
        # Digits only: the tag keeps rounds apart, the rest the writer and the call.
        contact=opening.Contact(phone=f"+1555{tag}{writer:02d}{n:06d}", name="Caller"),
        subject="Called about the router",
        channel="phone",
        text="The router blinks red since this morning.",
        direction=Direction.IN,
        duration_seconds=120,
        idempotency_key=f"cpu-{tag}-{writer}-{n}",
    )


async def open_calls(db: Database, agent: Agent, tag: str, count: int) -> None:
    """`count` calls from new numbers, by `WRITERS` concurrent writers, as the API opens them."""

    async def writer(number: int) -> None:
        for n in range(count // WRITERS):
            async with db.autocommit_session() as session:
                # As the API's first try: a repeated key would fail the write, not be looked up.
                planned = await opening.plan(
                    session, agent, a_call(tag, number, n), look_for_repeat=False
                )
                await opening.open_on_touch_point_at_once(
                    db, session, agent, planned, now=datetime.now(UTC)
                )
            if n % WRITERS == 0:
                # Paced a little, as requests arrive: reactions then run in rounds under load,
                # as they do behind HTTP, not once at the end.
                await asyncio.sleep(0.001)

    await asyncio.gather(*(writer(number) for number in range(WRITERS)))


async def best_of(
    rounds: int, tickets: int, work: Callable[[str], Awaitable[None]]
) -> tuple[float, float]:
    """(best CPU ms a ticket, its rate a second) over the rounds after the first."""
    best = (float("inf"), 0.0)
    for number in range(rounds + 1):
        cpu, wall = time.process_time(), time.monotonic()
        await work(f"{number}")
        spent, took = time.process_time() - cpu, time.monotonic() - wall
        if number and 1000 * spent / tickets < best[0]:
            best = (1000 * spent / tickets, tickets / took)
    return best


async def request_only(url: str, rounds: int, tickets: int) -> tuple[float, float]:
    db = Database(url)
    try:
        async with db.lookup() as session:
            agent = (await session.scalars(select(Agent).where(Agent.email == AGENT))).one()
        return await best_of(rounds, tickets, lambda tag: open_calls(db, agent, f"1{tag}", tickets))
    finally:
        await db.dispose()


async def with_reactions(url: str, rounds: int, tickets: int) -> tuple[float, float]:
    settings = load_settings(
        data_dir=Path(tempfile.mkdtemp(prefix="helpdesk-bench-")),
        database_url=url,
        secret_key=SECRET,
    )
    runtime = Runtime(settings)
    await runtime.start()
    tune_garbage_collector()  # as `helpdesk serve` does
    try:
        async with runtime.db.lookup() as session:
            agent = (await session.scalars(select(Agent).where(Agent.email == AGENT))).one()

        async def work(tag: str) -> None:
            await open_calls(runtime.db, agent, f"2{tag}", tickets)
            await runtime.events.idle()

        return await best_of(rounds, tickets, work)
    finally:
        await runtime.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1500, help="tickets a round")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (best counts)")
    options = parser.parse_args()
    postgres = PostgresServer(fsync=True)
    postgres.start()
    try:
        url = postgres.create_database("cpu")
        asyncio.run(seed(url))
        request = asyncio.run(request_only(url, options.rounds, options.tickets))
        reactions = asyncio.run(with_reactions(url, options.rounds, options.tickets))
    finally:
        postgres.stop()
    print(
        f"\nCPU a phone ticket costs the server, in-process on PostgreSQL, no HTTP "
        f"({options.tickets} tickets a round, best of {options.rounds})"
    )
    print(f"{'':24} {'cpu ms/ticket':>14} {'tickets/s':>10}")
    print(f"{'request':24} {request[0]:14.3f} {request[1]:10.0f}")
    print(f"{'+ reactions':24} {reactions[0]:14.3f} {reactions[1]:10.0f}")
    print(f"reactions cost {reactions[0] - request[0]:.3f} ms a ticket")


if __name__ == "__main__":
    main()
