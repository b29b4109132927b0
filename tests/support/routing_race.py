"""One of several processes routing the same tickets at once (tests/test_routing_processes.py).

    python -m tests.support.routing_race DATABASE_URL START_AT SEED TICKET_ID...

Waits until START_AT (a Unix time) so the processes begin together, then routes every ticket
in its own transaction in a shuffled order, and drains the holding queue. Prints "done N" with
the number of tickets this process assigned.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

from helpdesk.common.clock import SystemClock
from helpdesk.routing.service import RoutingService
from helpdesk.routing.settings import RoutingSettings
from helpdesk.storage.database import Database


async def race(database_url: str, start_at: float, seed: int, ticket_ids: list[int]) -> None:
    db = Database(database_url)
    service = RoutingService(db, SystemClock(), RoutingSettings(drain_batch=7))
    random.Random(seed).shuffle(ticket_ids)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    assigned = 0
    for number in ticket_ids:
        async with db.transaction() as session:
            routed = await service.router.route(session, [number], "race", now=service.clock.now())
            assigned += len(routed.assigned)
    assigned += await service.drain()
    await db.dispose()
    print(f"done {assigned}", flush=True)


if __name__ == "__main__":
    asyncio.run(
        race(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), [int(a) for a in sys.argv[4:]])
    )
