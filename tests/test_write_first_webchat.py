"""Writing first on web chat, against `helpdesk serve` and a real chat socket: only while the
visitor has the chat open, and only when they asked (no consent for proactive chat yet)."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import PASSWORD, People
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer


async def _open_on_chat(agent: AgentClient, customer_id: int, **message: object) -> httpx.Response:
    return await agent.http.post(
        "/api/tickets",
        json={
            "customer": {"id": customer_id},
            "subject": "Your order",
            "message": {"channel": "webchat", "text": "Your order has shipped.", **message},
        },
    )


async def test_an_agent_writes_first_on_web_chat_only_while_the_chat_is_open(
    server: HelpdeskServer,
):
    chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    ack = await chat.say("c1", "Tell me when my order ships, please")
    alice = await AgentClient(server.base_url).login(People().alice, PASSWORD)
    customer_id = (await alice.ticket(ack["ticket"])).json()["customer_id"]

    unasked = await _open_on_chat(alice, customer_id)
    assert unasked.status_code == 409 and "not agreed" in unasked.json()["detail"]
    opened = await _open_on_chat(alice, customer_id, customer_asked=True)
    assert opened.status_code == 201, opened.text
    pushed = await chat.expect("message")
    assert pushed["text"] == "Your order has shipped." and pushed["name"] == "Alice Agent"

    await chat.close()
    async with asyncio.timeout(10):
        while (await alice.http.get("/api/health")).json()["chat_connections"]:
            await asyncio.sleep(0.05)
    closed = await _open_on_chat(alice, customer_id, customer_asked=True)
    assert closed.status_code == 409
    assert "chat open" in closed.json()["detail"]
    await alice.close()
