"""A process that commits chat tickets handed over to people, then hangs before routing runs:
the test kills it with SIGKILL, a crash between the hand-over and its assignment.

    python -m tests.support.handover_scenario DATABASE_URL DATA_DIR COUNT

Prints "committed" when every hand-over is committed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from helpdesk.config import load_settings
from helpdesk.conversation.handover import hand_over
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.tickets.models import Ticket
from tests.support.commit_scenario import SECRET


async def commit(database_url: str, data_dir: Path, count: int) -> None:
    settings = load_settings(data_dir=data_dir, database_url=database_url, secret_key=SECRET)
    runtime = Runtime(settings)
    runtime.intake.start()  # intake only: no reaction runs in this process
    for n in range(count):
        message = InboundMessage(
            channel="webchat", external_id=f"v{n}:1", sender=f"visitor-{n}", text="hello"
        )
        received = await runtime.intake.receive(message)
        async with runtime.db.transaction() as session:
            ticket = await session.get(Ticket, received.ticket_id, with_for_update=True)
            assert ticket is not None
            reason = "the customer asked for a person"
            await hand_over(session, ticket, reason, now=runtime.clock.now())
    print("committed", flush=True)
    await asyncio.Event().wait()  # the test kills this process here


if __name__ == "__main__":
    asyncio.run(commit(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
