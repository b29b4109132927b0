"""Suggestions of customers who are probably one person, through the API (SQLite and
PostgreSQL): the same email or phone on two channels, alike names in one account; an unproven
claim never joins two histories without the agent's explicit word; dismissed pairs stay
dismissed; an agent sees only pairs in its sight."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from helpdesk.customers.models import Account, Customer, Identity
from helpdesk.runtime import Runtime
from helpdesk.storage.rows import insert_one
from tests.conftest import People
from tests.customer_merge_helpers import chat, customer_row, email, place_tickets
from tests.email_helpers import api_as


async def _customer(runtime: Runtime, name: str, **fields: Any) -> int:
    async with runtime.db.transaction() as session:
        return await insert_one(
            session, Customer(name=name, created_at=runtime.clock.now(), **fields)
        )


async def _account(runtime: Runtime, name: str) -> int:
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        return await insert_one(
            session, Account(name=name, name_key=name.lower(), created_at=now, updated_at=now)
        )


async def _pairs(api: httpx.AsyncClient) -> dict[tuple[int, int], dict[str, Any]]:
    answer = await api.get("/api/customers/duplicates")
    assert answer.status_code == 200, answer.text
    return {tuple(c["id"] for c in s["customers"]): s for s in answer.json()}  # type: ignore[misc]


async def test_the_same_email_or_phone_on_two_channels(desk: Runtime):
    mailed = (await desk.intake.receive(email("ann@customer.test", 1))).customer_id
    chatted = (await desk.intake.receive(chat("visitor-ann", 1))).customer_id
    called = await _customer(desk, "A. Smith", phone="+44 20 7946 0958")
    texted = (await desk.intake.receive(chat("visitor-tel", 1))).customer_id
    async with desk.db.transaction() as session:
        # The chat customer left her address with an agent (on record, in another case).
        await session.execute(
            update(Customer).where(Customer.id == chatted).values(email="Ann@Customer.test")
        )
        session.add(
            Identity(
                customer_id=texted,
                channel="phone",
                address="442079460958",
                created_at=desk.clock.now(),
            )
        )
    # An address many customers share is a team mailbox, not a person.
    for n in range(6):
        await _customer(desk, f"Desk {n}", email="info@shared.test")
    async with api_as(desk, People().supervisor) as sam:
        pairs = await _pairs(sam)
        assert set(pairs) == {(mailed, chatted), (called, texted)}
        by_email = pairs[(mailed, chatted)]
        assert by_email["unverified"] is False
        assert [r["kind"] for r in by_email["reasons"]] == ["email"]
        assert "ann@customer.test" in by_email["reasons"][0]["detail"]
        assert pairs[(called, texted)]["reasons"][0]["kind"] == "phone"

        confirmed = await sam.post(
            f"/api/customers/duplicates/{mailed}/{chatted}/confirm", json={"into": chatted}
        )
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["source_id"] == mailed
        assert (mailed, chatted) not in await _pairs(sam)
        later = await desk.intake.receive(email("ann@customer.test", 2))
        assert later.customer_id == chatted

        unrelated = await sam.post(
            f"/api/customers/duplicates/{chatted}/{called}/confirm", json={"into": called}
        )
        assert unrelated.status_code == 409
        assert "not suggested as one person" in unrelated.json()["detail"]


async def test_an_unverified_claim_is_shown_but_joins_nothing_without_the_agents_word(
    desk: Runtime,
):
    """Someone typed zed@ into the chat without proving it; an imported customer has zed@ on
    record. The pair is listed as an unverified claim; confirming needs `accept_unverified`."""
    claimant = (await desk.intake.receive(chat("visitor-zed", 1))).customer_id
    imported = await _customer(desk, "Zed Imported", email="zed@customer.test")
    async with desk.db.transaction() as session:
        session.add(
            Identity(
                customer_id=claimant,
                channel="email",
                address="zed@customer.test",
                verified=False,
                created_at=desk.clock.now(),
            )
        )
    async with api_as(desk, People().supervisor) as sam:
        suggestion = (await _pairs(sam))[(claimant, imported)]
        assert suggestion["unverified"] is True
        assert "unverified claim" in suggestion["reasons"][0]["detail"]
        plain = await sam.post(
            f"/api/customers/duplicates/{claimant}/{imported}/confirm", json={"into": imported}
        )
        assert plain.status_code == 409 and "accept_unverified" in plain.json()["detail"]
        assert await customer_row(desk, claimant) is not None  # nothing joined
        explicit = await sam.post(
            f"/api/customers/duplicates/{claimant}/{imported}/confirm",
            json={"into": imported, "accept_unverified": True, "reason": "checked by phone"},
        )
        assert explicit.status_code == 200, explicit.text
    assert await customer_row(desk, claimant) is None


async def test_alike_names_within_one_account_and_dismissal_is_remembered(desk: Runtime):
    acme, other = await _account(desk, "Acme"), await _account(desk, "Other Co")
    jon = await _customer(desk, "Jonathan Smith", account_id=acme)
    smith = await _customer(desk, "Smith Jonathan", account_id=acme)
    jane = await _customer(desk, "Jane Doe", account_id=acme)
    elsewhere = await _customer(desk, "Jonathan Smith", account_id=other)
    janet = await _customer(desk, "Janet Doe", account_id=acme)
    async with api_as(desk, People().supervisor) as sam:
        pairs = await _pairs(sam)
        assert (jon, smith) in pairs and pairs[(jon, smith)]["reasons"][0]["kind"] == "name"
        assert (jon, elsewhere) not in pairs and (smith, elsewhere) not in pairs
        assert (jane, janet) in pairs  # 'Jane Doe' / 'Janet Doe' score over 90
        assert pairs[(jane, janet)]["unverified"] is False

        dismissed = await sam.post(
            f"/api/customers/duplicates/{janet}/{jane}/dismiss", json={"note": "sisters"}
        )
        assert dismissed.status_code == 204
        again = await sam.post(f"/api/customers/duplicates/{jane}/{janet}/dismiss")
        assert again.status_code == 204
        pairs = await _pairs(sam)
        assert (jane, janet) not in pairs and (jon, smith) in pairs
        refused = await sam.post(
            f"/api/customers/duplicates/{jane}/{janet}/confirm", json={"into": jane}
        )
        assert refused.status_code == 409 and "dismissed" in refused.json()["detail"]
        wrong = await sam.post(
            f"/api/customers/duplicates/{jon}/{smith}/confirm", json={"into": jane}
        )
        assert wrong.status_code == 422


async def test_an_agent_sees_only_pairs_in_its_sight(desk: Runtime):
    billing = await desk.intake.receive(email("kim@customer.test", 1))
    support = await desk.intake.receive(chat("visitor-kim", 1))
    imported = await _customer(desk, "Kim Imported", email="kim@customer.test")
    await place_tickets(desk, [billing.ticket_id], "Billing")
    await place_tickets(desk, [support.ticket_id], "Support")
    async with desk.db.transaction() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == support.customer_id)
            .values(email="kim@customer.test")
        )
    people = People()
    async with api_as(desk, people.alice) as alice, api_as(desk, people.carol) as carol:
        # Alice sees the chat customer and the imported one (no ticket: nobody's), not Billing's.
        assert set(await _pairs(alice)) == {(support.customer_id, imported)}
        assert set(await _pairs(carol)) == {(billing.customer_id, imported)}
        hidden = await alice.post(
            f"/api/customers/duplicates/{billing.customer_id}/{support.customer_id}/dismiss"
        )
        assert hidden.status_code == 404
        hidden = await alice.post(
            f"/api/customers/duplicates/{billing.customer_id}/{support.customer_id}/confirm",
            json={"into": support.customer_id},
        )
        assert hidden.status_code == 404
