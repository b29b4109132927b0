"""The customer's whole picture in the API and the customer search: identities, account,
tier and manager, every ticket on every channel, satisfaction, complaints with root causes and
consent, as far as the asking agent may see (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update

from helpdesk.customers.models import Account, Customer, Identity
from helpdesk.runtime import Runtime
from helpdesk.staff.models import Agent
from helpdesk.tickets.models import Ticket
from tests.conftest import People
from tests.email_helpers import api_as
from tests.opening_helpers import ids_by_name, open_ticket


async def test_the_whole_picture_as_far_as_the_agent_may_see(desk: Runtime):
    people = People()
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    async with api_as(desk, people.supervisor) as sam:
        ids = await ids_by_name(sam)
        support = await open_ticket(
            sam,
            customer={"email": "kim@customer.test", "phone": "+4930555", "name": "Kim Picture"},
            team_id=ids["Support"],
            kind="complaint",
        )
        assert support.status_code == 201, support.text
        kim = support.json()["ticket"]["customer_id"]
        complaint = support.json()["ticket"]["number"]
        billing = await open_ticket(
            sam,
            customer={"id": kim},
            subject="Invoice question",
            team_id=ids["Billing"],
            message={"channel": "visit", "direction": "in", "text": "About the invoice"},
        )
        assert billing.status_code == 201, billing.text
        resolved = await sam.patch(
            f"/api/tickets/{complaint}",
            json={"status": "resolved", "root_cause": "delay in fixing", "remedy": "Refunded"},
        )
        assert resolved.status_code == 200, resolved.text
        only_billing = await open_ticket(
            sam, customer={"email": "bea@customer.test", "name": "Bea"}, team_id=ids["Billing"]
        )
        bea = only_billing.json()["ticket"]["customer_id"]
    async with desk.db.transaction() as session:
        alice_id = await session.scalar(select(Agent.id).where(Agent.email == people.alice))
        account = Account(
            name="Kim Corp",
            name_key="kim corp",
            tier="key",
            manager_id=alice_id,
            created_at=now,
            updated_at=now,
        )
        session.add(account)
        await session.flush()
        await session.execute(
            update(Customer).where(Customer.id == kim).values(account_id=account.id)
        )
        await session.execute(update(Ticket).where(Ticket.id == complaint).values(satisfaction=5))
        # An address Kim typed in a chat and has not proven yet.
        session.add(
            Identity(
                customer_id=kim,
                channel="email",
                address="kim.typed@customer.test",
                verified=False,
                created_at=now,
            )
        )

    async with api_as(desk, people.supervisor) as sam:
        seen = (await sam.get(f"/api/customers/{kim}")).json()
        assert seen["name"] == "Kim Picture" and seen["email"] == "kim@customer.test"
        assert {(i["channel"], i["address"], i["verified"]) for i in seen["identities"]} == {
            ("email", "kim@customer.test", True),
            ("phone", "+4930555", True),
            ("email", "kim.typed@customer.test", False),
        }
        assert seen["account"]["name"] == "Kim Corp"
        assert seen["tier"] == "key" and seen["key_account"] is True
        assert seen["manager"] == {"id": alice_id, "name": "Alice Agent"}
        assert sorted(t["channel"] for t in seen["tickets"]) == ["phone", "visit"]
        assert seen["satisfaction"] == {"ratings": 1, "average": 5.0, "satisfied_share": 1.0}
        [complained] = seen["complaints"]
        assert complained["ticket"] == complaint
        assert complained["root_cause"] == "delay in fixing" and complained["remedy"] == "Refunded"
        assert {c["channel"]: c["granted"] for c in seen["consent"]} == {
            "email": False,
            "telegram": False,
            "webchat": False,
        }
        # Supervisors find everybody; the search is paginated.
        found = (await sam.get("/api/customers", params={"query": "CUSTOMER.test"})).json()
        assert found["total"] == 2 and {c["id"] for c in found["customers"]} == {kim, bea}
        page = (await sam.get("/api/customers", params={"query": "customer", "limit": 1})).json()
        assert page["total"] == 2 and len(page["customers"]) == 1
        assert (await sam.get("/api/customers", params={"query": "4930555"})).json()["customers"][
            0
        ]["id"] == kim

    async with api_as(desk, people.alice) as alice:
        mine = (await alice.get(f"/api/customers/{kim}")).json()
        # Alice (Support) sees the Support ticket, not the Billing visit.
        assert [t["channel"] for t in mine["tickets"]] == ["phone"]
        # Bea has Billing tickets only: outside Alice's sight, the same 404 as no customer.
        assert (await alice.get(f"/api/customers/{bea}")).status_code == 404
        assert (await alice.get("/api/customers/999999")).status_code == 404
        found = (await alice.get("/api/customers", params={"query": "customer.test"})).json()
        assert [c["id"] for c in found["customers"]] == [kim]
    async with api_as(desk, people.carol) as carol:
        theirs = (await carol.get(f"/api/customers/{kim}")).json()
        assert [t["channel"] for t in theirs["tickets"]] == ["visit"]
        assert theirs["complaints"] == [] and theirs["satisfaction"]["ratings"] == 0
