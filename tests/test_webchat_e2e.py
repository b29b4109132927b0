"""The whole path through the real server: chat in, ticket in the queue, agent reply, chat out."""

from __future__ import annotations

import asyncio

from tests.conftest import PASSWORD, People
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer


async def test_customer_message_becomes_ticket_and_reply_arrives_live(server: HelpdeskServer):
    people = People()
    chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    assert chat.ready["history"] == []
    ack = await chat.say("m1", "My card was declined at the shop")
    assert ack["type"] == "ack" and ack["duplicate"] is False
    number = ack["ticket"]

    alice = await AgentClient(server.base_url).login(people.alice, PASSWORD)
    queue = await alice.queue(view="unassigned", status="new")
    assert [t["number"] for t in queue["tickets"]] == [number]
    assert queue["tickets"][0]["subject"] == "My card was declined at the shop"

    typing = await alice.http.post(f"/api/tickets/{number}/typing")
    assert typing.status_code == 204
    assert (await chat.expect("typing"))["name"] == "Alice Agent"

    reply = await alice.reply(number, "Sorry about that! Let me check your card.")
    assert reply.status_code == 200
    pushed = await chat.expect("message")
    assert pushed["text"] == "Sorry about that! Let me check your card."
    assert pushed["name"] == "Alice Agent"

    # The widget confirms what it showed; the agent sees the reply as delivered.
    await chat.send_frame({"type": "received", "ids": [pushed["id"]]})
    for _ in range(100):
        detail = (await alice.ticket(number)).json()
        if detail["messages"][-1]["delivery_state"] == "delivered":
            break
        await asyncio.sleep(0.05)
    assert [(m["direction"], m["text"]) for m in detail["messages"]] == [
        ("in", "My card was declined at the shop"),
        ("out", "Sorry about that! Let me check your card."),
    ]
    assert detail["messages"][-1]["delivery_state"] == "delivered"
    assert detail["status"] == "open" and detail["first_response_at"] is not None
    await chat.close()
    await alice.close()


async def test_history_survives_reconnect_and_notes_stay_internal(server: HelpdeskServer):
    people = People()
    token = await chat_token(server.base_url)
    chat = await ChatClient(server.ws_url, token).connect()
    number = (await chat.say("a", "Where is my parcel?"))["ticket"]
    await chat.close()

    bob = await AgentClient(server.base_url).login(people.bob, PASSWORD)
    assert (await bob.note(number, "Customer is a VIP, be quick")).status_code == 200
    assert (await bob.reply(number, "It ships tomorrow.")).status_code == 200
    await asyncio.sleep(0.3)

    # A reload: a new socket with the same (renewed) token shows the whole conversation.
    renewed = await chat_token(server.base_url, token)
    again = await ChatClient(server.ws_url, renewed).connect()
    texts = [(m["author"], m["text"]) for m in again.ready["history"]]
    assert texts == [("customer", "Where is my parcel?"), ("agent", "It ships tomorrow.")]
    assert again.ready["history"][0]["client_id"] == "a"
    assert again.ready["ticket"] == number
    await again.close()
    await bob.close()


async def test_resent_messages_are_stored_once(server: HelpdeskServer):
    token = await chat_token(server.base_url)
    chat = await ChatClient(server.ws_url, token).connect()
    first = await chat.say("same-id", "Hello?")
    await chat.close()

    # The widget did not see the ack (connection dropped) and resends after reconnecting.
    again = await ChatClient(server.ws_url, token).connect()
    second = await again.say("same-id", "Hello?")
    assert second["duplicate"] is True
    assert second["message_id"] == first["message_id"]
    third = await again.say("next-id", "Anyone there?")
    assert third["ticket"] == first["ticket"] and third["duplicate"] is False

    supervisor = await AgentClient(server.base_url).login(People().supervisor, PASSWORD)
    detail = (await supervisor.ticket(first["ticket"])).json()
    assert [m["text"] for m in detail["messages"]] == ["Hello?", "Anyone there?"]
    await again.close()
    await supervisor.close()


async def test_a_token_reads_only_its_own_conversation(server: HelpdeskServer):
    first = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    first_ticket = (await first.say("x", "my secret account number is 12345"))["ticket"]
    second = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    assert second.ready["history"] == []
    ack = await second.say("x", "hello")  # the same client id from another visitor is its own
    assert ack["duplicate"] is False

    # Replies to the first customer never reach the second one's socket.
    sam = await AgentClient(server.base_url).login(People().supervisor, PASSWORD)
    await sam.reply(first_ticket, "Reply for the first customer only")
    assert (await first.expect("message"))["text"] == "Reply for the first customer only"
    await second.send_frame({"type": "ping"})
    assert (await second.next_frame())["type"] == "pong"
    history = (await ChatClient(server.ws_url, second.token).connect()).ready["history"]
    assert [m["text"] for m in history] == ["hello"]
    for client in (first, second):
        await client.close()
    await sam.close()


async def test_agents_see_only_their_teams_tickets(server: HelpdeskServer):
    people = People()
    chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    number = (await chat.say("b1", "I was charged twice"))["ticket"]
    sam = await AgentClient(server.base_url).login(people.supervisor, PASSWORD)
    teams = {t["name"]: t["id"] for t in (await sam.http.get("/api/teams")).json()}
    moved = await sam.change(number, team_id=teams["Billing"], priority="high")
    assert moved.status_code == 200 and moved.json()["team_id"] == teams["Billing"]

    carol = await AgentClient(server.base_url).login(people.carol, PASSWORD)
    alice = await AgentClient(server.base_url).login(people.alice, PASSWORD)
    assert (await carol.ticket(number)).status_code == 200
    assert (await alice.ticket(number)).status_code == 404
    assert (await alice.reply(number, "sneaky")).status_code == 404
    assert (await alice.change(number, status="closed")).status_code == 404
    assert number not in [t["number"] for t in (await alice.queue())["tickets"]]
    assert number in [t["number"] for t in (await carol.queue(view="team"))["tickets"]]

    audit = (await sam.http.get(f"/api/tickets/{number}/audit")).json()
    assert [a["action"] for a in audit] == ["ticket.created", "ticket.changed"]
    assert audit[1]["detail"]["after"] == {"priority": "high", "team_id": teams["Billing"]}
    for client in (sam, carol, alice):
        await client.close()
    await chat.close()


async def test_agent_reply_is_idempotent(server: HelpdeskServer):
    chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    number = (await chat.say("q", "Question"))["ticket"]
    alice = await AgentClient(server.base_url).login(People().alice, PASSWORD)
    one = await alice.reply(number, "Answer", key="draft-7")
    two = await alice.reply(number, "Answer", key="draft-7")
    assert one.json()["message"]["id"] == two.json()["message"]["id"]
    assert two.json()["duplicate"] is True
    assert (await chat.expect("message"))["text"] == "Answer"
    with_timeout = asyncio.wait_for(chat.next_frame(), 0.7)
    try:
        extra = await with_timeout
    except TimeoutError:
        extra = None
    assert extra is None, f"the customer got a second copy: {extra}"
    await chat.close()
    await alice.close()
