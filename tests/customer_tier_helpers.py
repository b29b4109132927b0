"""Shared steps of the accounts-and-tiers tests: an admin, the API as a person, customers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import select, update

from helpdesk.customers.models import Customer, Identity
from helpdesk.runtime import Runtime
from helpdesk.staff.models import Agent, Role
from helpdesk.web.app import create_app
from tests.conftest import PASSWORD
from tests.routing_helpers import mail

# Carol (seeded as an agent) is made an admin: no second password to hash.
ADMIN = "carol@example.test"


async def make_admin(runtime: Runtime, email: str = ADMIN) -> int:
    async with runtime.db.transaction() as session:
        await session.execute(update(Agent).where(Agent.email == email).values(role=Role.ADMIN))
        agent_id = await session.scalar(select(Agent.id).where(Agent.email == email))
    assert agent_id is not None
    return agent_id


@asynccontextmanager
async def api_as(runtime: Runtime, email: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real API over ASGI, logged in as a seeded agent."""
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://helpdesk.test") as http:
        response = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        response.raise_for_status()
        http.headers["Authorization"] = f"Bearer {response.json()['token']}"
        yield http


async def customer_writing(runtime: Runtime, sender: str, n: int = 1) -> tuple[int, int]:
    """A customer's email comes in: (customer id, ticket number)."""
    received = await runtime.intake.receive(mail(sender, n))
    await runtime.events.idle()
    return received.customer_id, received.ticket_id


async def customer_of(runtime: Runtime, address: str) -> int:
    async with runtime.db.read() as session:
        found = await session.scalar(
            select(Customer.id).join(Identity).where(Identity.address == address)
        )
    assert found is not None
    return found
