"""The HTTP side under abuse and hostile input: security headers on every answer, logins that
cannot starve the server, ids beyond 64 bits, replies sent twice at once, repeated votes."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD, People, seed_staff
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer

only_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _policy(response: httpx.Response) -> dict[str, str]:
    directives = response.headers["content-security-policy"].split(";")
    return {d.strip().split(" ", 1)[0]: d.strip().partition(" ")[2] for d in directives}


@only_sqlite
async def test_every_page_and_api_answer_carries_security_headers(server: HelpdeskServer):
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        answers = [
            await http.get("/chat"),
            await http.get("/api/health"),
            await http.get("/api/tickets"),  # 401
            await http.get("/no/such/page"),  # 404
            await http.post("/api/chat/sessions"),
            await http.get("/openapi.json"),
        ]
        for answer in answers:
            assert answer.headers["x-content-type-options"] == "nosniff", answer.url
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert answer.headers["x-frame-options"] == "DENY"
            policy = _policy(answer)
            assert policy["frame-ancestors"] == "'none'"
            assert "unsafe-inline" not in policy["script-src"]
            assert "'self'" in policy["script-src"]
            assert "strict-transport-security" not in answer.headers  # plain http here
        # The docs page loads its scripts as files too: no inline script, no exception.
        docs = await http.get("/docs")
        assert docs.status_code == 200
        assert _policy(docs)["script-src"] == _policy(answers[0])["script-src"]


def test_https_public_url_adds_hsts_and_listed_sites_may_frame(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    server = HelpdeskServer(
        tmp_path / "s",
        url,
        HELPDESK_PUBLIC_URL="https://help.example.test",
        HELPDESK_PROTECTION__FRAME_ANCESTORS='["https://intranet.example.test"]',
    ).start()
    try:
        answer = httpx.get(f"{server.base_url}/chat")
        assert answer.headers["strict-transport-security"] == "max-age=31536000"
        assert _policy(answer)["frame-ancestors"] == "https://intranet.example.test"
        assert "x-frame-options" not in answer.headers
        assert "wss://help.example.test" in _policy(answer)["connect-src"]
    finally:
        server.stop()


async def test_a_burst_of_logins_is_refused_with_503_not_queued(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    await seed_staff(url)
    server = HelpdeskServer(
        tmp_path / "s",
        url,
        HELPDESK_PROTECTION__PASSWORD_HASH_CONCURRENCY="1",
        HELPDESK_PROTECTION__PASSWORD_HASH_QUEUE="2",
    ).start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:

            async def attempt() -> httpx.Response:
                email = f"{secrets.token_hex(6)}@example.test"
                return await http.post(
                    "/api/auth/login", json={"email": email, "password": "guess"}
                )

            answers = await asyncio.gather(*(attempt() for _ in range(16)))
            codes = sorted(a.status_code for a in answers)
            assert set(codes) == {401, 503}, codes
            busy = next(a for a in answers if a.status_code == 503)
            assert "too many logins at once" in busy.json()["detail"]
            assert int(busy.headers["retry-after"]) >= 1
            # Once the burst is over, the right password works.
            ok = await http.post(
                "/api/auth/login", json={"email": People().alice, "password": PASSWORD}
            )
            assert ok.status_code == 200
    finally:
        server.stop()


@only_sqlite
async def test_ids_beyond_64_bits_are_refused_with_422(server: HelpdeskServer):
    sam = await AgentClient(server.base_url).login(People().supervisor, PASSWORD)
    try:
        for huge in (2**63, 2**64 + 1, 10**30):
            raw = await sam.http.get(f"/api/email/quarantine/{huge}/raw")
            again = await sam.http.post(f"/api/email/quarantine/{huge}/reimport")
            revoke = await sam.http.post(f"/api/tickets/{huge}/chat-revocation")
            for answer in (raw, again, revoke):
                assert answer.status_code == 422, (answer.url, answer.text)
                assert answer.json()["detail"] == "the request is not valid"
    finally:
        await sam.close()


async def test_the_same_idempotent_reply_sent_at_once_is_stored_once(server: HelpdeskServer):
    chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    number = (await chat.say("c1", "Where is my order?"))["ticket"]
    alice = await AgentClient(server.base_url).login(People().alice, PASSWORD)
    try:
        for round_ in range(3):
            key = f"same-instant-{round_}"
            answers = await asyncio.gather(
                *(alice.reply(number, "It ships today.", key=key) for _ in range(8))
            )
            assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
            bodies = [a.json() for a in answers]
            assert sorted(b["duplicate"] for b in bodies) == [False] + [True] * 7
            assert len({b["message"]["id"] for b in bodies}) == 1
        detail = (await alice.ticket(number)).json()
        assert [m["text"] for m in detail["messages"]].count("It ships today.") == 3
    finally:
        await alice.close()
        await chat.close()


async def test_an_agent_votes_once_per_article(server: HelpdeskServer):
    people = People()
    sam = await AgentClient(server.base_url).login(people.supervisor, PASSWORD)
    alice = await AgentClient(server.base_url).login(people.alice, PASSWORD)
    bob = await AgentClient(server.base_url).login(people.bob, PASSWORD)
    try:
        article = {"title": "Card delivery", "body": "Cards arrive within 5 working days."}
        created = (await sam.http.post("/api/kb/articles", json=article)).json()
        await sam.http.post(f"/api/kb/articles/{created['id']}/publish")
        votes = f"/api/kb/articles/{created['id']}/votes"
        assert (await alice.http.post(votes, json={"helpful": True})).status_code == 204
        twice = await asyncio.gather(
            *(alice.http.post(votes, json={"helpful": True}) for _ in range(5))
        )
        assert [a.status_code for a in twice] == [409] * 5
        assert "already voted" in twice[0].json()["detail"]
        assert (await bob.http.post(votes, json={"helpful": False})).status_code == 204
        read = (await alice.http.get(f"/api/kb/articles/{created['id']}")).json()
        assert (read["helpful_count"], read["not_helpful_count"]) == (1, 1)
    finally:
        for client in (sam, alice, bob):
            await client.close()
