"""Merging two customers and undoing it, through the API, on SQLite and PostgreSQL: nothing lost
or doubled in any table, the source's next mail lands on the target, an undo puts back exactly
who owned what, refusals say why, and an agent acts only on customers in its sight."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import ForeignKey, delete, func, select

from helpdesk.common.clock import FixedClock
from helpdesk.customers.merge_models import CustomerMerge
from helpdesk.customers.models import Customer, TierChange
from helpdesk.customers.references import MOVED, NOT_MOVED
from helpdesk.routing.managers import set_managers
from helpdesk.routing.models import CustomerManager
from helpdesk.runtime import Runtime
from helpdesk.storage.base import Base
from helpdesk.storage.rows import insert_one
from helpdesk.tickets.models import AuditEntry, Direction, Message, Ticket
from tests.conftest import People
from tests.customer_merge_helpers import (
    agent_named,
    changed,
    chat,
    customer_row,
    email,
    owners,
    place_tickets,
    rich_pair,
    table_counts,
)
from tests.email_helpers import api_as


def test_every_column_that_names_a_customer_is_moved_or_said_to_stay():
    """A table added with a customer column must say what a merge does with it: otherwise the
    merge would cascade-delete its rows with the source, or fail on them."""
    # Every model is loaded: the runtime imported here holds every channel.
    listed = {(r.table, r.column) for r in MOVED} | set(NOT_MOVED)
    unlisted = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            points = any(
                isinstance(fk, ForeignKey) and fk.target_fullname == "customers.id"
                for fk in column.foreign_keys
            )
            if (points or column.name == "customer_id") and (table.name, column.name) not in listed:
                unlisted.append(f"{table.name}.{column.name}")
    assert not unlisted, f"add these to helpdesk/customers/references.py: {unlisted}"
    assert {r.table for r in MOVED} <= set(Base.metadata.tables)


async def test_merge_moves_everything_and_undo_puts_back_exactly_who_owned_what(desk: Runtime):
    pair = await rich_pair(desk)
    source_fields = await customer_row(desk, pair.source)
    async with api_as(desk, People().supervisor) as alice:
        note = await alice.post(
            f"/api/tickets/{pair.source_tickets[0]}/notes", json={"text": "called her back"}
        )
        assert note.status_code == 200, note.text
        await desk.events.idle()
        before, owned_before = await table_counts(desk), await owners(desk)
        source_rows = {
            t: {k for k, o in rows.items() if o == pair.source} for t, rows in owned_before.items()
        }

        merged = await alice.post(
            f"/api/customers/{pair.source}/merge",
            json={"into": pair.target, "reason": "same person: she said so in the chat"},
        )
        assert merged.status_code == 200, merged.text
        record = merged.json()
        assert (record["source_id"], record["target_id"]) == (pair.source, pair.target)
        assert record["moved"] == {t: len(keys) for t, keys in source_rows.items() if keys}
        assert record["moved"]["tickets"] == 2 and record["moved"]["identities"] == 2
        await desk.events.idle()

        # Nothing lost, nothing doubled: only the source customer row went, into the record.
        moved_total = sum(record["moved"].values())
        assert changed(before, await table_counts(desk)) == {
            "customers": -1,
            "customer_merges": 1,
            "customer_merge_rows": moved_total,
            "audit_entries": 1,
        }
        owned = await owners(desk)
        for table, keys in source_rows.items():
            if table == "customer_managers":  # keyed by the customer: the row now has its id
                assert keys == {pair.source} and pair.target in owned[table]
                continue
            assert {owned[table][k] for k in keys} <= {pair.target}, table
        assert await customer_row(desk, pair.source) is None
        target = await customer_row(desk, pair.target)
        assert target is not None
        # The target's empty fields took the source's; its own name stays.
        assert (target["email"], target["external_ref"], target["value"]) == (
            "ann@customer.test",
            "CRM-1",
            1200.0,
        )
        assert target["name"] == "visitor-ann"

        # The agent sees one customer: both histories, rating, note and remedy included.
        for number in pair.source_tickets:
            ticket = (await alice.get(f"/api/tickets/{number}")).json()
            assert ticket["customer"]["id"] == pair.target, ticket["customer"]

        # The source's next mail lands on the target.
        later = await desk.intake.receive(email("ann@customer.test", 9, "One more thing"))
        assert later.customer_id == pair.target
        # ...and a reply into a ticket that moved.
        reply = await desk.intake.receive(
            email("ann@customer.test", 10, "Thanks", ticket_hint=pair.source_tickets[1])
        )
        assert (reply.ticket_id, reply.customer_id) == (pair.source_tickets[1], pair.target)
        await desk.events.idle()
        before_undo = await table_counts(desk)

        undone = await alice.post(
            f"/api/customers/merges/{record['id']}/undo", json={"reason": "two people after all"}
        )
        assert undone.status_code == 200, undone.text
        assert undone.json()["undone_at"] is not None
        assert undone.json()["restored_id"] == pair.source
        again = await alice.post(f"/api/customers/merges/{record['id']}/undo")
        assert again.status_code == 409 and "undone already" in again.json()["detail"]
    await desk.events.idle()

    # Everything that moved is the source's again, under its own id and with its own fields;
    # what arrived after the merge stays with the target, but a message follows its ticket.
    assert await customer_row(desk, pair.source) == source_fields
    target = await customer_row(desk, pair.target)
    assert target is not None and target["email"] is None and target["external_ref"] is None
    owned_after = await owners(desk)
    for table, rows in owned_before.items():
        for key, owner in rows.items():
            assert owned_after[table][key] == owner, (table, key)
    assert owned_after["tickets"][later.ticket_id] == pair.target
    assert owned_after["messages"][later.message_id] == pair.target
    assert owned_after["messages"][reply.message_id] == pair.source
    # The undo added the source's row back and its audit entry: nothing else came or went.
    assert changed(before_undo, await table_counts(desk)) == {"customers": 1, "audit_entries": 1}
    async with desk.db.read() as session:
        actions = list(
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.ticket_id.is_(None))
                .order_by(AuditEntry.id)
            )
        )
        merge = await session.get(CustomerMerge, record["id"])
    assert actions[-2:] == ["customer.merged", "customer.merge_undone"]
    assert merge is not None and merge.undone_by == await agent_named(desk, People().supervisor)


async def test_a_manager_row_on_both_sides_and_an_id_taken_meanwhile(desk: Runtime):
    """Both have a relationship manager: the target keeps its own, the source's is kept in the
    record and comes back with the undo. A new customer may take the freed id meanwhile (SQLite
    reuses the largest): then the source comes back under a new id with all its rows."""
    target = (await desk.intake.receive(chat("visitor-bo", 1))).customer_id
    first = await desk.intake.receive(email("bo@customer.test", 1))
    source = first.customer_id
    alice = await agent_named(desk, "alice@example.test")
    bob = await agent_named(desk, "bob@example.test")
    async with desk.db.transaction() as session:
        now = desk.clock.now()
        await set_managers(
            session, source, manager_id=alice, backup_id=None, key_account=True, now=now
        )
        await set_managers(
            session, target, manager_id=bob, backup_id=None, key_account=False, now=now
        )
    await desk.events.idle()
    async with api_as(desk, People().supervisor) as sam:
        merged = await sam.post(
            f"/api/customers/{source}/merge", json={"target": target, "reason": "same"}
        )
        assert merged.status_code == 200, merged.text
        assert "customer_managers" not in merged.json()["moved"]
        assert await _manager(desk, target) == (bob, False)
        newcomer = (await desk.intake.receive(chat("visitor-new", 1))).customer_id
        await desk.events.idle()
        undone = await sam.post(f"/api/customers/merges/{merged.json()['id']}/undo")
        assert undone.status_code == 200, undone.text
    restored = undone.json()["restored_id"]
    assert restored == (source if newcomer != source else max(newcomer, target) + 1)
    assert await _manager(desk, restored) == (alice, True)
    assert await _manager(desk, target) == (bob, False)
    async with desk.db.read() as session:
        ticket = await session.get(Ticket, first.ticket_id)
    assert ticket is not None and ticket.customer_id == restored
    later = await desk.intake.receive(email("bo@customer.test", 2))
    assert later.customer_id == restored


async def _manager(runtime: Runtime, customer_id: int) -> tuple[int | None, bool] | None:
    async with runtime.db.read() as session:
        row = await session.get(CustomerManager, customer_id)
    return (row.manager_id, row.key_account) if row is not None else None


async def test_undo_is_refused_when_it_cannot_be_done_safely(desk: Runtime):
    pair = await rich_pair(desk)
    async with api_as(desk, People().supervisor) as sam:
        assert (await sam.post("/api/customers/merges/4242/undo")).status_code == 404
        itself = await sam.post(
            f"/api/customers/{pair.target}/merge", json={"into": pair.target, "reason": "x"}
        )
        assert itself.status_code == 409
        no_reason = await sam.post(
            f"/api/customers/{pair.source}/merge", json={"into": pair.target}
        )
        assert no_reason.status_code == 422
        first = (
            await sam.post(
                f"/api/customers/{pair.source}/merge", json={"into": pair.target, "reason": "same"}
            )
        ).json()
        # A moved ticket merged since into one of the target's: its messages live there now.
        into = await sam.post(
            f"/api/tickets/{pair.target_tickets[0]}/merge", json={"ticket": pair.source_tickets[0]}
        )
        assert into.status_code == 200, into.text
        refused = await sam.post(f"/api/customers/merges/{first['id']}/undo")
        assert refused.status_code == 409
        assert f"ticket #{pair.source_tickets[0]}" in refused.json()["detail"]
        assert "merged into" in refused.json()["detail"]

        # The target merged away in turn: that merge must be undone first.
        third = (await desk.intake.receive(chat("visitor-cy", 1))).customer_id
        second = (
            await sam.post(
                f"/api/customers/{pair.target}/merge", json={"into": third, "reason": "same"}
            )
        ).json()
        refused = await sam.post(f"/api/customers/merges/{first['id']}/undo")
        assert refused.status_code == 409
        assert refused.json()["detail"] == (
            f"customer {pair.target} no longer exists "
            f"(merged away by merge #{second['id']}: undo that one first)"
        )
        # Two agents undo it at the same moment: one does, the other is told it is done.
        both = await asyncio.gather(
            *(sam.post(f"/api/customers/merges/{second['id']}/undo") for _ in range(2))
        )
        assert sorted(answer.status_code for answer in both) == [200, 409]
    # Nothing was changed by the refusals: the first merge is still in place.
    assert await customer_row(desk, pair.source) is None
    async with desk.db.read() as session:
        merge = await session.get(CustomerMerge, first["id"])
    assert merge is not None and merge.undone_at is None


async def test_an_agent_merges_only_customers_in_sight(desk: Runtime):
    """Ann's email tickets are Billing's, her chat is Support's: Alice (Support) and Carol
    (Billing) each see one of the two, so neither may merge them (404, as for a missing id);
    a customer with no ticket yet is nobody's and in everyone's sight."""
    pair = await rich_pair(desk)
    await place_tickets(desk, pair.source_tickets, "Billing")
    await place_tickets(desk, pair.target_tickets, "Support")
    people = People()
    async with api_as(desk, people.alice) as alice, api_as(desk, people.carol) as carol:
        for api, hidden in ((alice, pair.source), (carol, pair.target)):
            for source, target in ((pair.source, pair.target), (pair.target, pair.source)):
                answer = await api.post(
                    f"/api/customers/{source}/merge", json={"into": target, "reason": "same"}
                )
                assert answer.status_code == 404, answer.text
                assert answer.json()["detail"] == f"no customer {hidden}"
        missing = await alice.post(
            "/api/customers/424242/merge", json={"into": pair.target, "reason": "same"}
        )
        assert missing.status_code == 404 and missing.json()["detail"] == "no customer 424242"
        async with desk.db.transaction() as session:
            imported = await insert_one(
                session, Customer(name="Ann Smith", created_at=desk.clock.now())
            )
        joined = await alice.post(
            f"/api/customers/{imported}/merge", json={"into": pair.target, "reason": "same"}
        )
        assert joined.status_code == 200, joined.text
        # Carol does not see the target: the merge into it is hidden from her, undo included.
        merge_id = joined.json()["id"]
        assert (await carol.get(f"/api/customers/merges/{merge_id}")).status_code == 404
        assert (await carol.post(f"/api/customers/merges/{merge_id}/undo")).status_code == 404
        assert (await alice.get(f"/api/customers/{pair.target}/merges")).json()[0]["id"] == merge_id
        assert (await alice.post(f"/api/customers/merges/{merge_id}/undo")).status_code == 200
    assert await customer_row(desk, pair.source) is not None


async def test_mail_arriving_during_the_merge_is_neither_lost_nor_left_behind(desk: Runtime):
    """Twenty mails from the source's address while the merge commits: every one is stored once,
    and every one belongs to the target afterwards (on PostgreSQL a mail that loses the race to
    the merge is stored again by intake's retry, then finds the address on the target)."""
    pair = await rich_pair(desk)
    async with api_as(desk, People().supervisor) as sam:

        async def mails() -> list[int]:
            receipts = []
            for n in range(100, 120):
                receipt = await desk.intake.receive(email("ann@customer.test", n, f"mail {n}"))
                receipts.append(receipt.message_id)
                await asyncio.sleep(0)
            return receipts

        arriving = asyncio.create_task(mails())
        await asyncio.sleep(0.01)
        merged = await sam.post(
            f"/api/customers/{pair.source}/merge", json={"into": pair.target, "reason": "same"}
        )
        stored = await arriving
    assert merged.status_code == 200, merged.text
    assert len(set(stored)) == 20
    async with desk.db.read() as session:
        owners_of = set(
            await session.scalars(select(Message.customer_id).where(Message.id.in_(stored)))
        )
        tickets_of = set(
            await session.scalars(
                select(Ticket.customer_id)
                .join(Message, Message.ticket_id == Ticket.id)
                .where(Message.id.in_(stored))
            )
        )
    assert owners_of == tickets_of == {pair.target}


async def test_undo_is_refused_after_a_split_or_a_deleted_row(desk: Runtime, clock: FixedClock):
    pair = await rich_pair(desk)
    async with desk.db.read() as session:
        later_mail = await session.scalar(
            select(func.max(Message.id)).where(
                Message.ticket_id == pair.source_tickets[1], Message.direction == Direction.IN
            )
        )
    async with api_as(desk, People().supervisor) as sam:
        merge = (
            await sam.post(
                f"/api/customers/{pair.source}/merge", json={"into": pair.target, "reason": "same"}
            )
        ).json()
        clock.advance(timedelta(minutes=5))
        split = await sam.post(
            f"/api/tickets/{pair.source_tickets[1]}/split", json={"message_id": later_mail}
        )
        assert split.status_code == 201, split.text
        refused = await sam.post(f"/api/customers/merges/{merge['id']}/undo")
        assert refused.status_code == 409
        assert refused.json()["detail"] == (
            f"message {later_mail} moved with the merge and was since split out into a new "
            f"ticket of customer {pair.target}"
        )

        # A row that moved was deleted since (erased, say): it cannot go back.
        source = (await desk.intake.receive(email("dee@customer.test", 1))).customer_id
        target = (await desk.intake.receive(chat("visitor-dee", 1))).customer_id
        async with desk.db.transaction() as session:
            session.add(
                TierChange(customer_id=source, to_tier="key", reason="value", at=clock.now())
            )
        merge = (
            await sam.post(f"/api/customers/{source}/merge", json={"into": target, "reason": "x"})
        ).json()
        async with desk.db.transaction() as session:
            await session.execute(delete(TierChange).where(TierChange.customer_id == target))
        refused = await sam.post(f"/api/customers/merges/{merge['id']}/undo")
        assert refused.status_code == 409
        assert refused.json()["detail"] == (
            f"1 of the 1 tier_changes rows that moved are no longer customer {target}'s "
            "(deleted or moved since)"
        )
