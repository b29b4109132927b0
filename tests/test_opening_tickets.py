"""Agents open tickets through the API: a call or a visit for a new or known customer, writing
first, idempotency, and who may open what for whom (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from helpdesk.customers.models import Customer, Identity
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.tickets.models import Message, Ticket
from tests.conftest import People
from tests.email_helpers import api_as
from tests.opening_helpers import count, event_types, ids_by_name, open_ticket, outbox_items


async def test_a_phone_call_opens_a_ticket_that_is_history_and_never_delivered(desk: Runtime):
    people = People()
    async with api_as(desk, people.alice) as api:
        ids = await ids_by_name(api)
        response = await open_ticket(
            api,
            customer={"phone": "+49 (30) 1234-567", "name": "Jane Caller"},
            kind="complaint",
            priority="high",
        )
        assert response.status_code == 201, response.text
        opened = response.json()
        ticket, message = opened["ticket"], opened["message"]
        assert opened["customer_created"] is True and opened["duplicate"] is False
        assert (ticket["channel"], ticket["kind"], ticket["priority"]) == (
            "phone",
            "complaint",
            "high",
        )
        assert ticket["status"] == "open" and ticket["customer_name"] == "Jane Caller"
        # Left to routing: nobody and no team yet.
        assert ticket["assignee_id"] is None and ticket["team_id"] is None
        # The call is the first response and the customer's latest word.
        assert ticket["first_response_at"] is not None
        assert ticket["last_customer_message_at"] is not None
        assert message["channel"] == "phone" and message["direction"] == "in"
        assert message["duration_seconds"] == 90 and message["agent_id"] == ids[people.alice]
        assert message["delivery_state"] == "n/a"

        # The same number, written differently, is the same customer.
        again = await open_ticket(
            api,
            customer={"phone": "+4930 1234567"},
            subject="Visit at the counter",
            message={"channel": "visit", "direction": "in", "text": "Brought the router back"},
        )
        assert again.status_code == 201, again.text
        assert again.json()["customer_created"] is False
        assert again.json()["ticket"]["customer_id"] == ticket["customer_id"]

        # A call back, logged on the ticket, joins the history.
        logged = await api.post(
            f"/api/tickets/{ticket['number']}/touch-points",
            json={
                "channel": "phone",
                "direction": "out",
                "text": "Called back",
                "duration_seconds": 40,
            },
        )
        assert logged.status_code == 201, logged.text
        detail = (await api.get(f"/api/tickets/{ticket['number']}")).json()
        assert [
            (m["channel"], m["direction"], m["duration_seconds"]) for m in detail["messages"]
        ] == [
            ("phone", "in", 90),
            ("phone", "out", 40),
        ]
        assert detail["customer"]["identities"][0]["address"] == "+49301234567"
        audit = (await api.get(f"/api/tickets/{ticket['number']}/audit")).json()
        assert [e["action"] for e in audit] == [
            "ticket.opened",
            "ticket.touch_point",
            "ticket.touch_point",
        ]
        assert (
            audit[0]["actor_id"] == ids[people.alice] and audit[0]["detail"]["kind"] == "complaint"
        )

    # Nothing was queued for delivery, so no worker can ever try to send a call.
    assert await outbox_items(desk) == []
    events = await event_types(desk)
    created = [payload for kind, payload in events if kind == "TicketCreated"]
    assert created[0]["opened_by_agent_id"] == ids[people.alice]
    assert created[0]["assignee_id"] is None
    assert [kind for kind, _ in events].count("TouchPointLogged") == 3
    assert "ReplyQueued" not in {kind for kind, _ in events}
    assert "MessageReceived" not in {kind for kind, _ in events}


async def test_a_repeated_idempotency_key_opens_one_ticket(desk: Runtime):
    async with api_as(desk, People().bob) as api:
        body = {
            "customer": {"email": "Walk.In@Example.test", "name": "Walk In"},
            "message": {"channel": "visit", "direction": "in", "text": "Came by"},
            "idempotency_key": "visit-7",
        }
        first = await open_ticket(api, **body)
        second = await open_ticket(api, **body)
        assert (first.status_code, second.status_code) == (201, 200)
        assert second.json()["duplicate"] is True
        assert second.json()["ticket"]["number"] == first.json()["ticket"]["number"]
        # Two at once with a new key: one commits, the other finds it.
        racing = await asyncio.gather(
            *(open_ticket(api, **{**body, "idempotency_key": "visit-8"}) for _ in range(2))
        )
        assert sorted(r.status_code for r in racing) == [200, 201]
        assert len({r.json()["ticket"]["number"] for r in racing}) == 1
        # A touch point on a ticket, repeated with its key, is stored once.
        number = first.json()["ticket"]["number"]
        point = {"channel": "phone", "direction": "out", "text": "Rang", "idempotency_key": "k1"}
        a = await api.post(f"/api/tickets/{number}/touch-points", json=point)
        b = await api.post(f"/api/tickets/{number}/touch-points", json=point)
        assert (
            b.json()["duplicate"] is True and a.json()["message"]["id"] == b.json()["message"]["id"]
        )
    assert await count(desk, Ticket) == 2
    assert await count(desk, Customer) == 1
    assert await count(desk, Identity, Identity.address == "walk.in@example.test") == 1


async def test_two_agents_opening_for_the_same_new_address_at_once_find_one_customer(
    desk: Runtime,
):
    async with api_as(desk, People().alice) as alice, api_as(desk, People().bob) as bob:
        calls = await asyncio.gather(
            *(
                open_ticket(api, customer={"phone": "+1 555 0134"}, idempotency_key=f"k{n}")
                for n, api in enumerate((alice, bob, alice, bob))
            )
        )
    assert [c.status_code for c in calls] == [201] * 4, [c.text for c in calls]
    assert len({c.json()["ticket"]["customer_id"] for c in calls}) == 1
    assert len({c.json()["ticket"]["number"] for c in calls}) == 4
    assert await count(desk, Customer) == 1


async def test_writing_first_follows_each_channels_rules(desk: Runtime):
    # A Telegram customer known from an earlier conversation.
    receipt = await desk.intake.receive(
        InboundMessage(channel="telegram", external_id="tg-1", sender="4242", text="hello")
    )
    async with api_as(desk, People().alice) as api:
        mail = await open_ticket(
            api,
            customer={"email": "jane@customer.test", "name": "Jane"},
            subject="Your new contract",
            # She asked for it: no consent to proactive email is needed (test_consent.py).
            message={"channel": "email", "text": "Here is your contract.", "customer_asked": True},
        )
        assert mail.status_code == 201, mail.text
        sent = mail.json()["message"]
        assert (sent["direction"], sent["delivery_state"]) == ("out", "pending")
        assert mail.json()["ticket"]["first_response_at"] is not None

        # Unasked, nothing goes until the customer consents (test_consent.py).
        unasked = await open_ticket(
            api,
            customer={"id": receipt.customer_id},
            message={"channel": "telegram", "text": "Did the fix work?"},
        )
        assert unasked.status_code == 409 and "not agreed" in unasked.json()["detail"]
        asked = await open_ticket(
            api,
            customer={"id": receipt.customer_id},
            message={
                "channel": "telegram",
                "text": "As promised: it works now.",
                "customer_asked": True,
            },
        )
        assert asked.status_code == 201, asked.text

        # Telegram only to a customer with a Telegram account; web chat only while it is open.
        no_account = await open_ticket(
            api,
            customer={"email": "jane@customer.test"},
            message={"channel": "telegram", "text": "hi", "customer_asked": True},
        )
        assert no_account.status_code == 409 and "Telegram" in no_account.json()["detail"]
        closed_chat = await open_ticket(
            api,
            customer={"email": "jane@customer.test"},
            message={"channel": "webchat", "text": "hi", "customer_asked": True},
        )
        assert closed_chat.status_code == 409 and "chat open" in closed_chat.json()["detail"]

    async with desk.db.read() as session:
        first = await session.get(Message, sent["id"])
        assert first is not None and first.identity_id is not None
        identity = await session.get(Identity, first.identity_id)
    assert identity is not None and identity.address == "jane@customer.test"
    queued = await outbox_items(desk)
    assert sorted(channel for channel, _ in queued) == ["email", "telegram"]
    # No acknowledgement for a ticket we opened ourselves.
    assert await count(desk, Message, Message.author_type == "system") == 0


async def test_who_may_open_what_for_whom(desk: Runtime):
    people = People()
    async with api_as(desk, people.supervisor) as sam:
        ids = await ids_by_name(sam)
        # A customer whose ticket is with Support.
        support = await open_ticket(
            sam, customer={"email": "kim@customer.test"}, team_id=ids["Support"]
        )
        assert support.status_code == 201, support.text
        kim = support.json()["ticket"]["customer_id"]
        # Supervisors place tickets anywhere, with anyone.
        anywhere = await open_ticket(
            sam,
            customer={"phone": "5550100"},
            team_id=ids["Billing"],
            assignee_id=ids[people.carol],
        )
        assert anywhere.status_code == 201, anywhere.text
        assert anywhere.json()["ticket"]["assignee_id"] == ids[people.carol]

    call = {"channel": "phone", "direction": "in", "text": "x"}
    new = {"email": "new@customer.test"}
    cases = [
        # (agent, request, status)
        (people.carol, {"customer": {"id": kim}}, 404),
        (people.carol, {"customer": {"email": "KIM@customer.test"}}, 403),
        (people.alice, {"customer": {"id": kim}}, 201),
        (people.alice, {"customer": {"id": 999999}}, 404),
        (
            people.alice,
            {"customer": new, "team_id": ids["Billing"]},
            403,
        ),
        (
            people.alice,
            {"customer": new, "assignee_id": ids[people.carol]},
            403,
        ),
        (
            people.alice,
            {"customer": {"id": kim}, "team_id": ids["Support"], "assignee_id": ids[people.bob]},
            201,
        ),
        (people.alice, {"customer": {"id": kim}, "assignee_id": ids[people.alice]}, 201),
        (people.alice, {"customer": {"id": kim}, "assignee_id": 999999}, 409),
        (people.carol, {"customer": {"phone": "555-0100"}, "team_id": ids["Billing"]}, 201),
        (people.alice, {"customer": {"phone": "not a number"}}, 422),
        (people.alice, {"customer": {"name": "Nobody"}}, 422),
        (people.alice, {"customer": {"email": "kim@customer.test", "phone": "5550100"}}, 409),
    ]
    seen = []
    for agent, body, _ in cases:
        async with api_as(desk, agent) as api:
            response = await open_ticket(api, message=call, **body)
        seen.append(response.status_code)
    assert seen == [expected for _, _, expected in cases]
    # Refusals left nothing behind: no customer for the refused new address.
    assert await count(desk, Identity, Identity.address == "new@customer.test") == 0


async def test_a_call_on_a_resolved_ticket_reopens_it_on_the_record(desk: Runtime):
    async with api_as(desk, People().alice) as api:
        opened = await open_ticket(api, customer={"phone": "+1 555 0199"})
        number = opened.json()["ticket"]["number"]
        resolved = await api.patch(f"/api/tickets/{number}", json={"status": "resolved"})
        assert resolved.status_code == 200, resolved.text
        called = await api.post(
            f"/api/tickets/{number}/touch-points",
            json={"channel": "phone", "direction": "in", "text": "Still blinking red"},
        )
        assert called.status_code == 201, called.text
        await desk.events.idle()
        ticket = (await api.get(f"/api/tickets/{number}")).json()
        assert ticket["status"] == "open" and ticket["resolved_at"] is None
        audit = (await api.get(f"/api/tickets/{number}/audit")).json()
        reopened = [e for e in audit if e["action"] == "ticket.reopened"]
        assert len(reopened) == 1
        assert reopened[0]["detail"]["reason"] == "a call was logged after resolution"
        assert reopened[0]["detail"]["message_id"] == called.json()["message"]["id"]
    assert ("TicketReopened", {"ticket_id": number}) in await event_types(desk)


async def test_writing_first_with_a_repeated_key_opens_one_ticket_with_its_message(
    desk: Runtime,
):
    async with api_as(desk, People().alice) as api:
        body = {
            "customer": {"email": "once@example.test"},
            "subject": "Your contract",
            "message": {"channel": "email", "text": "Here it is.", "customer_asked": True},
            "idempotency_key": "mail-1",
        }
        first = await open_ticket(api, **body)
        second = await open_ticket(api, **body)
        assert (first.status_code, second.status_code) == (201, 200), second.text
        assert second.json()["ticket"]["number"] == first.json()["ticket"]["number"]
        assert second.json()["message"]["id"] == first.json()["message"]["id"]
    assert await count(desk, Ticket) == 1
    assert await count(desk, Message) == 1
    assert await outbox_items(desk) == [("email", first.json()["message"]["id"])]
