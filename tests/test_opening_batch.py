"""Tickets opened at the same moment share one commit, and each keeps the answer it would have
had alone: a bad one among them is refused by itself, with nothing of it kept (on SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Customer, Identity
from helpdesk.events.types import TicketCreated
from helpdesk.runtime import Runtime
from helpdesk.sla.models import SlaTimer
from helpdesk.storage.database import Database
from helpdesk.storage.event_log import StoredEvent, record
from helpdesk.storage.group_commit import GroupCommit
from helpdesk.tickets.models import Ticket
from tests.conftest import People
from tests.email_helpers import api_as
from tests.opening_helpers import count, open_ticket

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Refused(Exception):
    pass


def new_customer(name: str, address: str, *, fail: bool = False):
    """A unit of work: a customer with an email identity and an event; `fail` refuses it
    after its rows are written."""

    async def work(session: AsyncSession) -> int:
        customer = Customer(name=name, created_at=NOW)
        session.add(customer)
        await session.flush()
        session.add(
            Identity(customer_id=customer.id, channel="email", address=address, created_at=NOW)
        )
        await session.flush()
        record(session, TicketCreated(customer.id, customer.id, "email"))
        if fail:
            raise Refused(name)
        return customer.id

    return work


async def test_concurrent_units_share_one_commit_and_a_bad_one_is_refused_alone(
    database_url: str,
):
    db = Database(database_url)
    await db.migrate()
    commits = 0

    def counted(*_: object) -> None:
        nonlocal commits
        commits += 1

    event.listen(db.engine.sync_engine, "commit", counted)
    group = GroupCommit(db, limit=10)
    try:
        outcomes = await asyncio.gather(
            group.run(new_customer("Ann", "ann@example.test")),
            group.run(new_customer("Ben", "ben@example.test")),
            group.run(new_customer("Cat", "cat@example.test", fail=True)),
            # The same address as Ben's: a unique constraint, in the middle of the batch.
            group.run(new_customer("Bea", "ben@example.test")),
            group.run(new_customer("Dan", "dan@example.test")),
            return_exceptions=True,
        )
        assert isinstance(outcomes[2], Refused)
        assert isinstance(outcomes[3], IntegrityError)
        kept = [outcomes[0], outcomes[1], outcomes[4]]
        assert all(isinstance(value, int) for value in kept)
        # Five units, one transaction.
        assert commits == 1
        async with db.read() as session:
            names = set(await session.scalars(select(Customer.name)))
            addresses = set(await session.scalars(select(Identity.address)))
            events = list(await session.scalars(select(StoredEvent.payload)))
        assert names == {"Ann", "Ben", "Dan"}
        assert addresses == {"ann@example.test", "ben@example.test", "dan@example.test"}
        # Only the kept units' events, each once.
        assert sorted(e["ticket_id"] for e in events) == sorted(kept)

        # Units arriving while a batch commits go in the next one; each answered.
        more = await asyncio.gather(
            *(group.run(new_customer(f"C{n}", f"c{n}@example.test")) for n in range(25))
        )
        assert len(set(more)) == 25
        async with db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Customer)) == 28
    finally:
        await db.dispose()


async def test_tickets_opened_at_once_each_get_their_own_answer(desk: Runtime):
    clients = 6
    async with api_as(desk, People().alice) as api:
        bodies = [
            {"customer": {"phone": f"+1 555 01{n:02d}", "name": f"Caller {n}"}}
            for n in range(clients)
        ]
        # Writing first on Telegram to a customer known only by email: refused in the write,
        # after the customer's rows were written in the shared transaction.
        bodies[clients // 2] = {
            "customer": {"email": "new@example.test", "name": "No Telegram"},
            "message": {"channel": "telegram", "text": "Hello", "customer_asked": True},
        }
        calls = await asyncio.gather(
            *(open_ticket(api, idempotency_key=f"b{n}", **body) for n, body in enumerate(bodies))
        )
    statuses = [c.status_code for c in calls]
    assert statuses[clients // 2] == 409, calls[clients // 2].text
    assert "Telegram" in calls[clients // 2].json()["detail"]
    opened = [c.json() for n, c in enumerate(calls) if n != clients // 2]
    assert all(c.status_code == 201 for n, c in enumerate(calls) if n != clients // 2)
    assert [o["ticket"]["customer_name"] for o in opened] == [
        f"Caller {n}" for n in range(clients) if n != clients // 2
    ]
    assert len({o["ticket"]["number"] for o in opened}) == clients - 1
    # Nothing of the refused one is kept: not its customer, not its identity.
    assert await count(desk, Ticket) == clients - 1
    assert await count(desk, Customer) == clients - 1
    assert await count(desk, Identity, Identity.address == "new@example.test") == 0


async def test_tickets_opened_at_once_each_get_their_own_sla_timers(desk: Runtime):
    kinds = ["complaint", "question", "complaint", "question", "question"]
    async with api_as(desk, People().bob) as api:
        calls = await asyncio.gather(
            *(
                open_ticket(api, customer={"phone": f"+1 555 02{n:02d}"}, kind=kind)
                for n, kind in enumerate(kinds)
            )
        )
    assert [c.status_code for c in calls] == [201] * len(kinds)
    await desk.events.idle()
    async with desk.db.read() as session:
        rows = (
            await session.execute(select(SlaTimer.ticket_id, SlaTimer.metric, SlaTimer.policy))
        ).all()
    policies: dict[int, dict[str, str]] = {}
    for ticket_id, metric, policy in rows:
        assert metric not in policies.setdefault(ticket_id, {}), "one timer per metric"
        policies[ticket_id][metric] = policy
    for call, kind in zip(calls, kinds, strict=True):
        timers = policies[call.json()["ticket"]["number"]]
        expected = "complaint" if kind == "complaint" else "standard"
        assert set(timers) == {"first_response", "resolution"}
        assert timers["first_response"] == expected
