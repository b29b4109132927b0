"""Shared steps of the routing tests: agents online with profiles, customers' tickets."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from helpdesk.messages import InboundMessage
from helpdesk.routing.models import Presence
from helpdesk.routing.profiles import ProfileChanges, apply_changes, profile_of, set_presence
from helpdesk.runtime import Runtime
from helpdesk.staff.models import Agent
from helpdesk.tickets.models import Ticket


async def agent_id(runtime: Runtime, email: str) -> int:
    async with runtime.db.read() as session:
        found = await session.scalar(select(Agent.id).where(Agent.email == email))
    assert found is not None
    return found


async def set_agent(
    runtime: Runtime,
    email: str,
    presence: Presence | None = Presence.ONLINE,
    **changes: object,
) -> int:
    """Give the agent a profile (and a presence, which is also a heartbeat now)."""
    found = await agent_id(runtime, email)
    async with runtime.db.transaction() as session:
        now = runtime.clock.now()
        profile = await profile_of(session, found, runtime.settings.routing, now)
        apply_changes(profile, ProfileChanges(**changes), now)  # type: ignore[arg-type]
        if presence is not None:
            set_presence(session, profile, presence, now)
    return found


def mail(sender: str, n: int = 1, text: str = "My parcel has not arrived.") -> InboundMessage:
    return InboundMessage(
        channel="email",
        external_id=f"<{sender}-{n}@example.test>",
        sender=sender,
        text=text,
        subject=f"Parcel {n}",
        continues_latest=False,
    )


async def assignee_soon(runtime: Runtime, number: int, timeout: float = 10.0) -> int | None:
    """The ticket's assignee once one is set (the drain runs in the background)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = (await ticket(runtime, number)).assignee_id
        if found is not None or loop.time() > deadline:
            return found
        await asyncio.sleep(0.05)


async def ticket(runtime: Runtime, number: int) -> Ticket:
    async with runtime.db.read() as session:
        found = await session.get(Ticket, number)
    assert found is not None
    return found
