"""Hostile and broken input: each gets a clear error frame, close code or 4xx, and the server
keeps serving everyone else."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests.conftest import PASSWORD, People
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer

SECRET = "test-secret-key-that-is-long-enough-0123456789"
only_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def _close_code(chat: ChatClient) -> tuple[int | None, str]:
    """Read until the server closes; return its close code and reason."""
    assert chat.socket is not None
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(chat.socket.recv(), 10)
    return chat.socket.close_code, chat.socket.close_reason or ""


async def _stored_texts(server: HelpdeskServer, number: int) -> list[str]:
    sam = await AgentClient(server.base_url).login(People().supervisor, PASSWORD)
    detail = (await sam.ticket(number)).json()
    await sam.close()
    return [m["text"] for m in detail["messages"]]


@only_sqlite
async def test_broken_frames_get_error_frames_and_the_chat_goes_on(server: HelpdeskServer):
    chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    await chat.send_frame("this is not json")
    assert (await chat.next_frame())["code"] == "bad_json"
    await chat.send_frame("[1, 2, 3]")
    assert (await chat.next_frame())["code"] == "bad_frame"
    await chat.send_frame({"type": "teleport"})
    error = await chat.next_frame()
    assert error == {
        "type": "error",
        "code": "unknown_type",
        "message": "unknown frame type 'teleport'",
    }
    await chat.send_frame({"type": "message", "client_id": "no spaces allowed", "text": "x"})
    assert (await chat.next_frame())["code"] == "bad_frame"
    await chat.send_frame({"type": "message", "client_id": "c1", "text": "   "})
    assert (await chat.next_frame())["code"] == "bad_frame"
    assert chat.socket is not None
    await chat.socket.send(b"\xff\xfe binary")
    assert (await chat.next_frame())["code"] == "bad_json"
    await chat.send_frame({"type": "received", "ids": "all"})
    assert (await chat.next_frame())["code"] == "bad_frame"

    ack = await chat.say("c2", "still here")
    assert ack["type"] == "ack"
    assert await _stored_texts(server, ack["ticket"]) == ["still here"]
    await chat.close()


@only_sqlite
async def test_oversized_messages_are_refused_with_the_limit(server: HelpdeskServer):
    chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    error = await chat.say("big", "x" * (16 * 1024 + 1))
    assert error["type"] == "error" and error["code"] == "too_large"
    assert error["client_id"] == "big"
    assert "limit is 16384" in error["message"]
    # Multi-byte text counts in bytes: 6,000 euro signs are 18,000 bytes.
    assert (await chat.say("euro", "€" * 6000))["code"] == "too_large"
    ok = await chat.say("fits", "y" * (16 * 1024))
    assert ok["type"] == "ack"

    # A frame beyond the transport limit (64 KiB) is cut off by the server with 1009.
    await chat.send_frame({"type": "message", "client_id": "huge", "text": "z" * 200_000})
    code, _reason = await _close_code(chat)
    assert code == 1009
    assert await _stored_texts(server, ok["ticket"]) == ["y" * 16 * 1024]


@only_sqlite
async def test_a_flood_is_limited_then_cut_off_while_others_are_served(server: HelpdeskServer):
    flooder = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    calm = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    for i in range(60):
        await flooder.send_frame({"type": "message", "client_id": f"f{i}", "text": f"spam {i}"})
    replies = []
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            replies.append(await flooder.next_frame())
    acks = [r for r in replies if r["type"] == "ack"]
    limited = [r for r in replies if r.get("code") == "rate_limited"]
    assert len(acks) == 10  # the default burst: 10 messages per 10 seconds
    assert limited and "wait" in limited[0]["message"]
    assert flooder.socket is not None and flooder.socket.close_code == 1008

    assert (await calm.say("c", "I am a normal customer"))["type"] == "ack"
    assert len(await _stored_texts(server, acks[0]["ticket"])) == 10
    await calm.close()


@only_sqlite
@pytest.mark.parametrize(
    ("hello", "code", "close"),
    [
        ({"type": "hello", "token": "forged.token.value"}, "bad_token", 4401),
        ({"type": "hello"}, "hello_expected", 4400),
        ({"type": "message", "client_id": "a", "text": "hi"}, "hello_expected", 4400),
        ("not json at all", "hello_expected", 4400),
    ],
)
async def test_forged_tokens_and_missing_hellos_are_refused(
    server: HelpdeskServer, hello, code, close
):
    async with websockets.connect(server.ws_url) as socket:
        await socket.send(hello if isinstance(hello, str) else json.dumps(hello))
        error = json.loads(await socket.recv())
        assert (error["type"], error["code"]) == ("error", code)
        assert error["message"] in ("token invalid", "the first frame must be a hello with a token")
        with pytest.raises(websockets.ConnectionClosed):
            await socket.recv()
        # 4401 tells the widget to drop its token; 4400 only to say hello properly.
        assert socket.close_code == close


@only_sqlite
async def test_expired_and_tampered_tokens_are_refused(server: HelpdeskServer):
    class MonthOld(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 31 * 86400

    expired = URLSafeTimedSerializer(SECRET, salt="helpdesk.webchat", signer=MonthOld).dumps(
        {"v": "visitor-from-last-month"}
    )
    chat = ChatClient(server.ws_url, expired)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await chat.connect()  # no `ready`: the server answers with an error and closes
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    async with websockets.connect(server.ws_url) as socket:
        await socket.send(json.dumps({"type": "hello", "token": expired}))
        assert json.loads(await socket.recv())["message"] == "token expired"

    # A token signed with another key, or for another purpose, is as good as forged.
    foreign = URLSafeTimedSerializer("x" * 40, salt="helpdesk.webchat").dumps({"v": "v"})
    other_purpose = URLSafeTimedSerializer(SECRET, salt="helpdesk.agent-session").dumps({"v": "v"})
    for token in (foreign, other_purpose):
        async with websockets.connect(server.ws_url) as socket:
            await socket.send(json.dumps({"type": "hello", "token": token}))
            assert json.loads(await socket.recv())["message"] == "token invalid"
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        renewal = await http.post("/api/chat/sessions", json={"token": expired})
        assert renewal.status_code == 401 and renewal.json()["detail"] == "token expired"


@only_sqlite
async def test_malformed_api_requests_get_4xx_with_a_message(server: HelpdeskServer):
    chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    number = (await chat.say("a", "hello"))["ticket"]
    await chat.close()
    async with httpx.AsyncClient(base_url=server.base_url) as anonymous:
        assert (await anonymous.get("/api/tickets")).status_code == 401
        bad_login = await anonymous.post(
            "/api/auth/login", json={"email": People().alice, "password": "wrong"}
        )
        assert bad_login.status_code == 401
        assert bad_login.json()["detail"] == "wrong email or password"
        assert (await anonymous.post("/api/auth/login", content=b"{not json")).status_code == 422
        garbage = await anonymous.get("/api/tickets", headers={"Authorization": "Bearer nonsense"})
        assert garbage.status_code == 401

    alice = await AgentClient(server.base_url).login(People().alice, PASSWORD)
    cases = [
        ("GET", "/api/tickets/not-a-number", None),
        ("GET", "/api/tickets/0", None),
        ("GET", "/api/tickets/99999999999999999999999", None),
        ("GET", "/api/tickets?limit=100000", None),
        ("GET", "/api/tickets?status=sleeping", None),
        ("GET", "/api/tickets?view=everything", None),
        ("POST", f"/api/tickets/{number}/reply", {"text": ""}),
        ("POST", f"/api/tickets/{number}/reply", {"text": 42}),
        ("POST", f"/api/tickets/{number}/reply", {"text": "x" * 70000}),
        ("POST", f"/api/tickets/{number}/reply", {"text": "ok", "idempotency_key": "bad key!"}),
        ("PATCH", f"/api/tickets/{number}", {"status": "sleeping"}),
        ("PATCH", f"/api/tickets/{number}", {"colour": "red"}),
        ("PATCH", f"/api/tickets/{number}", {"assignee_id": 99999999999999999999}),
        ("PATCH", f"/api/tickets/{number}", {"assignee_id": 424242}),
        ("PATCH", f"/api/tickets/{number}", {"team_id": 424242}),
        ("POST", f"/api/tickets/{number}/notes", {"text": "   "}),
        ("GET", "/api/tickets/424242", None),
    ]
    for method, path, body in cases:
        response = await alice.http.request(method, path, json=body)
        assert 400 <= response.status_code < 500, (method, path, body, response.text)
        assert response.json()["detail"], (method, path)
    nul = await alice.reply(number, "zero\x00byte reply")
    assert nul.status_code == 200 and nul.json()["message"]["text"] == "zerobyte reply"
    await alice.close()


@only_sqlite
async def test_cookie_sessions_need_the_csrf_token(server: HelpdeskServer):
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        login = await browser.post(
            "/api/auth/login", json={"email": People().alice, "password": PASSWORD}
        )
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        csrf = login.json()["csrf_token"]
        assert (await browser.get("/api/me")).json()["email"] == People().alice
        chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
        number = (await chat.say("a", "hi"))["ticket"]
        forged = await browser.post(f"/api/tickets/{number}/notes", json={"text": "x"})
        assert forged.status_code == 403 and "X-CSRF-Token" in forged.json()["detail"]
        allowed = await browser.post(
            f"/api/tickets/{number}/notes", json={"text": "x"}, headers={"X-CSRF-Token": csrf}
        )
        assert allowed.status_code == 200
        await chat.close()


@only_sqlite
async def test_password_guessing_is_throttled_per_account(server: HelpdeskServer):
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for _ in range(10):
            wrong = await http.post(
                "/api/auth/login", json={"email": People().alice, "password": "guess"}
            )
            assert wrong.status_code == 401
        blocked = await http.post(
            "/api/auth/login", json={"email": People().alice, "password": PASSWORD}
        )
        assert blocked.status_code == 429
        assert "too many failed logins" in blocked.json()["detail"]
        assert int(blocked.headers["Retry-After"]) > 0
        other = await http.post(
            "/api/auth/login", json={"email": People().bob, "password": PASSWORD}
        )
        assert other.status_code == 200
