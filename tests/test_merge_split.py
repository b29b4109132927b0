"""Merging two tickets of one customer and splitting a message out, through the API (on SQLite
and PostgreSQL): what moves, who may, what the customer hears, where their next mail lands."""

from __future__ import annotations

from helpdesk.channels.email.importer import RawMail
from helpdesk.runtime import Runtime
from helpdesk.tickets.models import AuditEntry, Message
from tests.conftest import People
from tests.email_helpers import api_as
from tests.opening_helpers import count, event_types, open_ticket, outbox_items
from tests.support.dovecot import mail

CALL = {"channel": "phone", "direction": "in", "text": "Router blinks red", "duration_seconds": 60}


async def test_merging_moves_messages_notes_and_the_audit_trail(desk: Runtime):
    async with api_as(desk, People().alice) as api:
        first = (await open_ticket(api, customer={"phone": "5550199"}, message=CALL)).json()
        second = (
            await open_ticket(
                api,
                customer={"phone": "5550199"},
                subject="Same router again",
                message={**CALL, "text": "Still red"},
                kind="complaint",
                priority="high",
            )
        ).json()
        one, two = first["ticket"]["number"], second["ticket"]["number"]
        await api.post(f"/api/tickets/{two}/notes", json={"text": "same as the other one"})

        merged = await api.post(f"/api/tickets/{one}/merge", json={"ticket": two})
        assert merged.status_code == 200, merged.text
        assert merged.json()["told"] is None
        # A complaint stays a complaint, and urgency stays, in the survivor.
        assert (merged.json()["ticket"]["kind"], merged.json()["ticket"]["priority"]) == (
            "complaint",
            "high",
        )
        assert merged.json()["merged"]["merged_into"] == one
        assert merged.json()["merged"]["status"] == "closed"

        survivor = (await api.get(f"/api/tickets/{one}")).json()
        assert [m["text"] for m in survivor["messages"]] == [
            "Router blinks red",
            "Still red",
            "same as the other one",
        ]
        trail = [
            (e["action"], e["detail"]) for e in (await api.get(f"/api/tickets/{one}/audit")).json()
        ]
        actions = [action for action, _ in trail]
        assert actions.count("ticket.opened") == 2 and "ticket.noted" in actions
        assert trail[-1][0] == "ticket.merged" and trail[-1][1]["merged"] == two
        old = (await api.get(f"/api/tickets/{two}")).json()
        assert old["merged_into"] == one and old["messages"] == []
        old_trail = (await api.get(f"/api/tickets/{two}/audit")).json()
        assert [e["action"] for e in old_trail] == ["ticket.merged_into"]

        # Once merged, never again; a ticket never into itself.
        again = await api.post(f"/api/tickets/{one}/merge", json={"ticket": two})
        assert again.status_code == 409 and "already merged" in again.json()["detail"]
        itself = await api.post(f"/api/tickets/{one}/merge", json={"ticket": one})
        assert itself.status_code == 409
        # The customer cannot be told on the phone.
        third = (await open_ticket(api, customer={"phone": "5550199"}, message=CALL)).json()
        told = await api.post(
            f"/api/tickets/{one}/merge",
            json={"ticket": third["ticket"]["number"], "tell_customer": True},
        )
        assert told.status_code == 409 and "phone" in told.json()["detail"]
    assert await outbox_items(desk) == []
    assert ("TicketsMerged", {"survivor_id": one, "merged_id": two}) in await event_types(desk)


async def test_merge_permissions_and_customers(desk: Runtime):
    people = People()
    async with api_as(desk, people.supervisor) as sam:
        teams = {t["name"]: t["id"] for t in (await sam.get("/api/teams")).json()}
        billing = (
            await open_ticket(
                sam, customer={"phone": "5550111"}, message=CALL, team_id=teams["Billing"]
            )
        ).json()["ticket"]["number"]
        other = (await open_ticket(sam, customer={"phone": "5550112"}, message=CALL)).json()
        mine = (await open_ticket(sam, customer={"phone": "5550111"}, message=CALL)).json()
        different = await sam.post(
            f"/api/tickets/{mine['ticket']['number']}/merge",
            json={"ticket": other["ticket"]["number"]},
        )
        assert different.status_code == 409 and "same customer" in different.json()["detail"]
    # Alice does not see Billing's ticket: 404, as everywhere.
    async with api_as(desk, people.alice) as alice:
        hidden = await alice.post(
            f"/api/tickets/{mine['ticket']['number']}/merge", json={"ticket": billing}
        )
        assert hidden.status_code == 404
    assert await count(desk, AuditEntry, AuditEntry.action == "ticket.merged") == 0


async def test_the_customer_is_told_only_when_asked_and_their_mail_finds_the_survivor(
    desk: Runtime,
):
    async with api_as(desk, People().alice) as api:
        opened = [
            (
                await open_ticket(
                    api,
                    customer={"email": "jane@customer.test"},
                    subject=f"Contract {n}",
                    message={
                        "channel": "email",
                        "text": f"About contract {n}",
                        "customer_asked": True,
                    },
                )
            ).json()
            for n in (1, 2)
        ]
        one, two = (o["ticket"]["number"] for o in opened)
        queued_before = len(await outbox_items(desk))
        told = await api.post(
            f"/api/tickets/{one}/merge", json={"ticket": two, "tell_customer": True}
        )
        assert told.status_code == 200, told.text
        message = told.json()["told"]
        assert f"#{two}" in message["text"] and f"#{one}" in message["text"]
        assert (message["author_type"], message["delivery_state"]) == ("system", "pending")
        assert len(await outbox_items(desk)) == queued_before + 1

    # The customer answers the merged ticket by its number: it lands on the survivor.
    result = await desk.email.importer.import_batch(
        "support",
        [
            RawMail(
                None,
                bytes(
                    mail(
                        "jane@customer.test",
                        f"Re: Contract 2 [#{two}]",
                        "Signed and sent back.",
                        message_id="<signed@customer.test>",
                    )
                ),
            )
        ],
    )
    async with desk.db.read() as session:
        stored = await session.get(Message, result.message_ids[0])
    assert stored is not None and stored.ticket_id == one


async def test_a_message_split_out_becomes_a_ticket_of_its_own(desk: Runtime):
    async with api_as(desk, People().bob) as api:
        support = {t["name"]: t["id"] for t in (await api.get("/api/teams")).json()}["Support"]
        opened = (
            await open_ticket(api, customer={"phone": "5550123"}, message=CALL, team_id=support)
        ).json()
        number = opened["ticket"]["number"]
        only = await api.post(
            f"/api/tickets/{number}/split", json={"message_id": opened["message"]["id"]}
        )
        assert only.status_code == 409 and "only message" in only.json()["detail"]
        other = await api.post(
            f"/api/tickets/{number}/touch-points",
            json={"channel": "visit", "direction": "in", "text": "Also: my invoice is wrong"},
        )
        note = await api.post(f"/api/tickets/{number}/notes", json={"text": "internal"})
        refused = await api.post(
            f"/api/tickets/{number}/split", json={"message_id": note.json()["message"]["id"]}
        )
        assert refused.status_code == 409

        split = await api.post(
            f"/api/tickets/{number}/split", json={"message_id": other.json()["message"]["id"]}
        )
        assert split.status_code == 201, split.text
        new = split.json()
        assert new["subject"] == "Also: my invoice is wrong" and new["channel"] == "visit"
        assert new["team_id"] == support
        assert new["customer_id"] == opened["ticket"]["customer_id"]
        moved = (await api.get(f"/api/tickets/{new['number']}")).json()
        assert [m["text"] for m in moved["messages"]] == ["Also: my invoice is wrong"]
        left = (await api.get(f"/api/tickets/{number}")).json()
        assert [m["text"] for m in left["messages"]] == ["Router blinks red", "internal"]
        trail = (await api.get(f"/api/tickets/{new['number']}/audit")).json()
        assert trail[-1]["action"] == "ticket.split_from"
        assert trail[-1]["detail"]["source"] == number
        old_trail = (await api.get(f"/api/tickets/{number}/audit")).json()
        assert old_trail[-1]["action"] == "ticket.split"
    # Another team's agent does not see it, so cannot split it.
    async with api_as(desk, People().carol) as carol:
        response = await carol.post(
            f"/api/tickets/{number}/split", json={"message_id": opened["message"]["id"]}
        )
        assert response.status_code == 404
    created = [p for kind, p in await event_types(desk) if kind == "TicketCreated"]
    assert created[-1]["ticket_id"] == new["number"] and created[-1]["opened_by_agent_id"]


async def test_a_reply_to_a_split_out_mail_follows_it_to_its_new_ticket(desk: Runtime):
    async def deliver(message_id: str, text: str, in_reply_to: str | None = None) -> int:
        result = await desk.email.importer.import_batch(
            "support",
            [
                RawMail(
                    None,
                    bytes(
                        mail(
                            "jane@customer.test",
                            "Router",
                            text,
                            message_id=message_id,
                            in_reply_to=in_reply_to,
                            references=in_reply_to,
                        )
                    ),
                )
            ],
        )
        async with desk.db.read() as session:
            stored = await session.get(Message, result.message_ids[0])
        assert stored is not None
        return stored.ticket_id

    first = await deliver("<a@customer.test>", "My router blinks red")
    assert await deliver("<b@customer.test>", "Also my invoice", "<a@customer.test>") == first
    async with api_as(desk, People().alice) as api:
        detail = (await api.get(f"/api/tickets/{first}")).json()
        [invoice] = [m["id"] for m in detail["messages"] if m["text"] == "Also my invoice"]
        split = await api.post(f"/api/tickets/{first}/split", json={"message_id": invoice})
        assert split.status_code == 201, split.text
    await desk.events.idle()
    new = split.json()["number"]
    assert await deliver("<c@customer.test>", "About the invoice", "<b@customer.test>") == new
    assert await deliver("<d@customer.test>", "About the router", "<a@customer.test>") == first
