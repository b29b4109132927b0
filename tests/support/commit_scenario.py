"""A process that commits customers' messages (and an agent's resolution) and then hangs before
any reaction runs: the test kills it with SIGKILL, which is a crash between the commit and the
reactions by construction.

    python -m tests.support.commit_scenario DATABASE_URL DATA_DIR COUNT

It uses the helpdesk's own intake and ticket code, with the event dispatcher never started.
Prints "committed" when everything is committed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy import select

from helpdesk.config import load_settings
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.staff.models import Agent
from helpdesk.tickets import actions as tickets
from helpdesk.tickets.models import Ticket, TicketStatus

SECRET = "test-secret-key-that-is-long-enough-0123456789"


def chat(visitor: str, text: str) -> InboundMessage:
    return InboundMessage(channel="webchat", external_id=f"{visitor}:1", sender=visitor, text=text)


def mail(sender: str) -> InboundMessage:
    return InboundMessage(
        channel="email",
        external_id=f"<{sender}-1@example.test>",
        sender=sender,
        text="My parcel has not arrived yet. Could you check, please?",
        subject="Parcel not arrived",
        continues_latest=False,
    )


async def commit(database_url: str, data_dir: Path, count: int) -> None:
    settings = load_settings(data_dir=data_dir, database_url=database_url, secret_key=SECRET)
    runtime = Runtime(settings)
    runtime.intake.start()  # intake only: no reaction runs in this process
    for n in range(count):
        await runtime.intake.receive(chat(f"person-{n}", "talk to a human"))
        await runtime.intake.receive(chat(f"asker-{n}", "how do I reset my password"))
        await runtime.intake.receive(mail(f"writer-{n}@example.test"))
        served = await runtime.intake.receive(chat(f"served-{n}", "Where is my card?"))
        async with runtime.db.transaction() as session:
            alice = await session.scalar(select(Agent).order_by(Agent.id).limit(1))
            ticket = await session.get(Ticket, served.ticket_id)
            assert alice is not None and ticket is not None
            now = runtime.clock.now()
            await tickets.reply(session, alice, ticket, "Your card is on its way.", now=now)
            await tickets.change(
                session,
                alice,
                ticket,
                tickets.TicketChanges(status=TicketStatus.RESOLVED),
                now=now,
            )
    print("committed", flush=True)
    await asyncio.Event().wait()  # the test kills this process here


if __name__ == "__main__":
    asyncio.run(commit(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
