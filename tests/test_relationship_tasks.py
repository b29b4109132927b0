"""Relationship signals become tasks on the manager's list, with a fixed clock on SQLite and
PostgreSQL: repeated complaints and a key account's silence found by the scan, a low rating and
reopenings found as they happen (the event table), one open task per customer and kind, and a
task closed stays closed until new evidence arrives."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from helpdesk import payloads
from helpdesk.common.clock import FixedClock
from helpdesk.messages import InboundMessage
from helpdesk.relationships.models import RelationshipTask
from helpdesk.routing.managers import set_managers
from helpdesk.runtime import Runtime
from helpdesk.tickets.models import Ticket, TicketKind, TicketStatus
from tests.conftest import People
from tests.email_helpers import api_as, eventually
from tests.relationship_helpers import add_account, add_customer, add_ticket, agent_id


async def _tasks(runtime: Runtime) -> list[RelationshipTask]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(RelationshipTask).order_by(RelationshipTask.id)))


async def test_repeated_complaints_and_a_silent_key_account_go_on_the_managers_list(
    desk: Runtime, clock: FixedClock
):
    now = clock.now()
    async with desk.db.transaction() as session:
        alice = await agent_id(session, People().alice)
        grumpy = await add_customer(session, "grumpy", now=now - timedelta(days=400))
        await set_managers(
            session, grumpy, manager_id=alice, backup_id=None, key_account=False, now=now
        )
        for days in (80, 10):
            await add_ticket(
                session, grumpy, at=now - timedelta(days=days), kind=TicketKind.COMPLAINT
            )
        # Nobody manages this one: no list to put a task on.
        orphan = await add_customer(session, "orphan", now=now)
        for days in (3, 2):
            await add_ticket(
                session, orphan, at=now - timedelta(days=days), kind=TicketKind.COMPLAINT
            )
        account = await add_account(
            session, "Big Co", now=now - timedelta(days=300), tier="key", manager_id=alice
        )
        contact = await add_customer(
            session, "buyer", now=now - timedelta(days=300), account_id=account
        )
        await add_ticket(session, contact, at=now - timedelta(days=40), message=True)

    # Two scans at once (two processes, on PostgreSQL truly concurrent) add each task once.
    await asyncio.gather(desk.relationships.scan_all(), desk.relationships.scan_all())
    await desk.relationships.scan_all()
    assert len(await _tasks(desk)) == 2
    async with api_as(desk, People().alice) as api:
        mine = (await api.get("/api/me/tasks")).json()
        by_kind = {task["kind"]: task for task in mine}
        assert set(by_kind) == {"complaints", "no_contact"}
        assert by_kind["complaints"]["customer_id"] == grumpy
        assert by_kind["complaints"]["reason"].startswith("2 complaints in the last 90 days")
        assert by_kind["no_contact"]["account_id"] == account
        assert "no contact for 40 days" in by_kind["no_contact"]["reason"]
    async with api_as(desk, People().bob) as api:
        assert (await api.get("/api/me/tasks")).json() == []
        # Someone else's task is answered as missing; the task list is for supervisors.
        task_id = by_kind["complaints"]["id"]
        assert (await api.post(f"/api/tasks/{task_id}/done")).status_code == 404
        assert (await api.get("/api/tasks")).status_code == 403
    async with api_as(desk, People().alice) as api:
        done = await api.post(f"/api/tasks/{task_id}/done", json={"note": "called them"})
        assert done.status_code == 200 and done.json()["status"] == "done"
        assert (await api.post(f"/api/tasks/{task_id}/done")).status_code == 409
        contacted = by_kind["no_contact"]["id"]
        assert (await api.post(f"/api/tasks/{contacted}/done")).status_code == 200

    # The evidence a manager dealt with does not come back; new evidence does.
    clock.advance(timedelta(days=1))
    await desk.relationships.scan_all()
    assert [t.status for t in await _tasks(desk)] == ["done", "done"]
    async with desk.db.transaction() as session:
        for _ in range(2):
            await add_ticket(session, grumpy, at=clock.now(), kind=TicketKind.COMPLAINT)
    clock.advance(timedelta(minutes=1))
    await desk.relationships.scan_all()
    async with api_as(desk, People().supervisor) as api:
        open_tasks = (await api.get("/api/tasks")).json()
        assert [(t["kind"], t["customer_id"]) for t in open_tasks] == [("complaints", grumpy)]
        closed = (await api.get("/api/tasks", params={"status": "done"})).json()
        assert {t["note"] for t in closed} == {"called them", None}


async def test_a_low_rating_and_reopenings_put_a_task_as_they_happen(
    desk: Runtime, clock: FixedClock
):
    visitor = "visitor-low"

    async def say(number: int, text: str, payload: str | None = None) -> int:
        receipt = await desk.intake.receive(
            InboundMessage(
                channel="webchat",
                external_id=f"m{number}",
                sender=visitor,
                text=text,
                payload=payload,
            )
        )
        return receipt.ticket_id

    ticket_id = await say(1, "My order is late")
    async with desk.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        alice = await agent_id(session, People().alice)
        await set_managers(
            session,
            ticket.customer_id,
            manager_id=alice,
            backup_id=None,
            key_account=False,
            now=clock.now(),
        )
        customer_id = ticket.customer_id

    async def resolve() -> None:
        async with desk.db.transaction() as session:
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            ticket.status, ticket.resolved_at = TicketStatus.RESOLVED, clock.now()

    # Reopened twice within the window: the second reopening is the signal.
    for number in (2, 3):
        await resolve()
        clock.advance(timedelta(hours=1))
        assert await say(number, "Still nothing") == ticket_id
    reopened = await eventually(lambda: _kinds(desk, "reopens"), timeout=20)
    assert reopened[0].customer_id == customer_id
    assert reopened[0].reason == (
        f"tickets reopened 2 times in the last 60 days (#{ticket_id}, #{ticket_id})"
    )

    await say(4, "★", payload=payloads.rating(1))
    [low] = await eventually(lambda: _kinds(desk, "low_satisfaction"), timeout=20)
    assert low.manager_id == alice
    assert low.reason == f"a rating of 1 of 5 in the last 90 days (tickets #{ticket_id})"


async def _kinds(runtime: Runtime, kind: str) -> list[RelationshipTask]:
    return [t for t in await _tasks(runtime) if t.kind == kind]


async def test_a_complaint_made_in_the_chat_adds_the_task_at_once(desk: Runtime, clock: FixedClock):
    receipt = await desk.intake.receive(
        InboundMessage(channel="webchat", external_id="c1", sender="visitor-c", text="Hello")
    )
    async with desk.db.transaction() as session:
        alice = await agent_id(session, People().alice)
        await set_managers(
            session,
            receipt.customer_id,
            manager_id=alice,
            backup_id=None,
            key_account=False,
            now=clock.now(),
        )
        earlier = await add_ticket(
            session,
            receipt.customer_id,
            at=clock.now() - timedelta(days=20),
            kind=TicketKind.COMPLAINT,
        )
    # One tap on "complaint": the ticket becomes one, and that is the second in 90 days.
    tapped = await desk.intake.receive(
        InboundMessage(
            channel="webchat",
            external_id="c2",
            sender="visitor-c",
            text="/complaint",
            payload=payloads.COMPLAINT,
        )
    )
    [task] = await eventually(lambda: _kinds(desk, "complaints"), timeout=20)
    assert (task.customer_id, task.manager_id) == (receipt.customer_id, alice)
    assert task.reason == (
        f"2 complaints in the last 90 days (tickets #{earlier}, #{tapped.ticket_id})"
    )
