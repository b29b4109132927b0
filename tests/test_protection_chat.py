"""The chat under abuse: every frame counts toward a limit, one address starts only so many
chats and sockets, only allowed sites may open it, tokens can be revoked, and hostile values get
clear refusals. Other customers keep being served throughout."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import websockets

from tests.conftest import PASSWORD, People, seed_staff
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer

only_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def _closed_with(chat: ChatClient, timeout: float = 10) -> tuple[int | None, str]:
    assert chat.socket is not None
    with pytest.raises(websockets.ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                await chat.socket.recv()
    return chat.socket.close_code, chat.socket.close_reason or ""


async def _still_served(server: HelpdeskServer) -> None:
    other = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    assert (await other.say("ok", "I am a calm customer"))["type"] == "ack"
    await other.close()


JUNK = {
    "ping": json.dumps({"type": "ping"}),
    "received": json.dumps({"type": "received", "ids": [1]}),
    "unknown": json.dumps({"type": "teleport"}),
    "malformed": "{not json",
    "binary": b"\x00\xff" * 8,
}


@only_sqlite
@pytest.mark.parametrize("kind", sorted(JUNK))
async def test_a_flood_of_any_frame_closes_the_socket(server: HelpdeskServer, kind: str):
    chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    assert chat.socket is not None
    for _ in range(200):
        try:
            await chat.socket.send(JUNK[kind])
        except websockets.ConnectionClosed:
            break
    code, reason = await _closed_with(chat)
    assert (code, reason) == (1008, "too many frames")
    await _still_served(server)


@only_sqlite
async def test_frames_at_a_human_pace_are_never_closed(server: HelpdeskServer):
    chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    for _ in range(40):
        await chat.send_frame({"type": "ping"})
        assert (await chat.next_frame())["type"] == "pong"
    assert (await chat.say("c1", "still here"))["type"] == "ack"
    await chat.close()


@only_sqlite
async def test_new_chats_are_limited_per_address_and_no_ticket_exists_before_a_word(
    server: HelpdeskServer,
):
    local = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=server.base_url, transport=local) as http:
        answers = [await http.post("/api/chat/sessions") for _ in range(25)]
        codes = [a.status_code for a in answers]
        assert codes == [200] * 20 + [429] * 5
        assert "too many new chats from your address" in answers[-1].json()["detail"]
        assert int(answers[-1].headers["retry-after"]) > 0
        # Renewing a chat one has is not a new chat.
        renewed = await http.post("/api/chat/sessions", json={"token": answers[0].json()["token"]})
        assert renewed.status_code == 200
        # Sessions and sockets that never wrote made no ticket.
        for answer in answers[:5]:
            await ChatClient(server.ws_url, answer.json()["token"]).connect()
    sam = await AgentClient(server.base_url).login(People().supervisor, PASSWORD)
    assert (await sam.queue())["tickets"] == []
    await sam.close()
    # Another address starts chats as usual.
    await _still_served(server)


@only_sqlite
async def test_open_chat_sockets_are_limited_per_address(server: HelpdeskServer):
    token = await chat_token(server.base_url)
    sockets = []
    for _ in range(20):
        socket = await websockets.connect(server.ws_url, local_addr=("127.0.0.3", 0))
        await socket.send(json.dumps({"type": "hello", "token": token}))
        assert json.loads(await socket.recv())["type"] == "ready"
        sockets.append(socket)
    extra = await websockets.connect(server.ws_url, local_addr=("127.0.0.3", 0))
    frame = json.loads(await extra.recv())
    assert frame["code"] == "too_many_sockets"
    with pytest.raises(websockets.ConnectionClosed):
        await extra.recv()
    assert extra.close_code == 4429
    await _still_served(server)
    await sockets.pop().close()
    again = await websockets.connect(server.ws_url, local_addr=("127.0.0.3", 0))
    await again.send(json.dumps({"type": "hello", "token": token}))
    assert json.loads(await again.recv())["type"] == "ready"
    for socket in [*sockets, again]:
        await socket.close()


async def test_only_allowed_sites_may_open_the_chat(database_url: str, tmp_path: Path):
    await seed_staff(database_url)
    server = HelpdeskServer(
        tmp_path / "s",
        database_url,
        HELPDESK_WEBCHAT__ALLOWED_ORIGINS='["https://shop.example"]',
    ).start()
    try:
        token = await chat_token(server.base_url)
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(server.ws_url, origin="https://evil.example")
        assert refused.value.response.status_code == 403
        for origin in ("https://shop.example", server.base_url):
            socket = await websockets.connect(server.ws_url, origin=origin)
            await socket.send(json.dumps({"type": "hello", "token": token}))
            assert json.loads(await socket.recv())["type"] == "ready"
            await socket.close()
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            evil = await http.post("/api/chat/sessions", headers={"Origin": "https://evil.example"})
            assert evil.status_code == 403
            assert "may not open the chat" in evil.json()["detail"]
            assert "access-control-allow-origin" not in evil.headers
            shop = await http.post("/api/chat/sessions", headers={"Origin": "https://shop.example"})
            assert shop.status_code == 200
            assert shop.headers["access-control-allow-origin"] == "https://shop.example"
    finally:
        server.stop()


async def test_an_agent_revokes_a_chat_token_and_its_socket_closes(server: HelpdeskServer):
    token = await chat_token(server.base_url)
    chat = await ChatClient(server.ws_url, token).connect()
    number = (await chat.say("c1", "Please help"))["ticket"]
    carol = await AgentClient(server.base_url).login(People().carol, PASSWORD)
    alice = await AgentClient(server.base_url).login(People().alice, PASSWORD)
    try:
        # Routing has not given the ticket to a team: let Support have it, so Billing's
        # carol cannot see it.
        support = (await alice.http.get("/api/me")).json()["teams"][0]["id"]
        assert (await alice.change(number, team_id=support)).status_code == 200
        hidden = await carol.http.post(f"/api/tickets/{number}/chat-revocation")
        assert hidden.status_code == 404
        answer = await alice.http.post(
            f"/api/tickets/{number}/chat-revocation", json={"reason": "abusive"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"revoked": 1, "visitors": 1}
        assert await _closed_with(chat) == (4401, "token revoked")
        again = ChatClient(server.ws_url, token)
        again.socket = await websockets.connect(server.ws_url)
        await again.send_frame({"type": "hello", "token": token})
        assert (await again.next_frame())["message"] == "token revoked"
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            renewal = await http.post("/api/chat/sessions", json={"token": token})
        assert renewal.status_code == 401
        assert renewal.json()["detail"] == "token revoked"
    finally:
        await carol.close()
        await alice.close()


@only_sqlite
async def test_hostile_values_get_clear_refusals_and_the_socket_stays(server: HelpdeskServer):
    chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    await chat.send_frame('{"type": "message", "client_id": "s1", "text": "a\\ud800b"}')
    error = await chat.next_frame()
    assert (error["code"], error["client_id"]) == ("bad_text", "s1")
    await chat.send_frame('{"type": "message", "client_id": "s2", "text": "hi", "name": "\\udfff"}')
    assert (await chat.next_frame())["code"] == "bad_text"
    for ids in ([2**63], [2**64 + 5], [0], [-1]):
        await chat.send_frame({"type": "received", "ids": ids})
        error = await chat.next_frame()
        assert error["code"] == "bad_frame" and "2^63-1" in error["message"]
    await chat.send_frame({"type": "ping"})
    assert (await chat.next_frame())["type"] == "pong"
    assert (await chat.say("s3", "a proper message"))["type"] == "ack"
    # A token with a lone surrogate is a bad token, not a dropped connection.
    odd = ChatClient(server.ws_url, "x")
    odd.socket = await websockets.connect(server.ws_url)
    await odd.send_frame('{"type": "hello", "token": "abc\\ud800"}')
    assert (await odd.next_frame())["code"] == "bad_token"
    assert await _closed_with(odd) == (4401, "token invalid")
    await chat.close()
