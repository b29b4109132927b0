"""Through the real server (`helpdesk serve`), on SQLite and PostgreSQL: a web-chat customer
talks to the bot, an admin names their relationship manager, the customer asks for a person,
the ticket goes to the manager (not to the less busy colleague), the reason is on the ticket,
and the manager's live feed (server-sent events) shows the assignment and the customer's next
message. Then the routing API: profiles, hand back, a supervisor's reassignment, the fairness
check."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpdesk.staff.accounts import add_agent
from helpdesk.staff.models import Role
from helpdesk.storage.database import Database
from tests.conftest import PASSWORD, People
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer

ADMIN = "ada@example.test"


async def _add_admin(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            await add_agent(
                session,
                email=ADMIN,
                name="Ada Admin",
                password=PASSWORD,
                now=datetime.now(UTC),
                role=Role.ADMIN,
            )
    finally:
        await db.dispose()


class Feed:
    """An agent's live feed, read as a browser's EventSource would."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[Feed]:
        async with self._http.stream("GET", "/api/me/feed", timeout=None) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            reader = asyncio.create_task(self._read(response))
            try:
                assert (await self.next("hello"))["type"] == "hello"
                yield self
            finally:
                reader.cancel()

    async def _read(self, response: httpx.Response) -> None:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                await self.frames.put(json.loads(line[6:]))

    async def next(self, kind: str, timeout: float = 15.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.frames.get()
                if frame["type"] == kind:
                    return frame


async def test_a_chat_customer_asking_for_a_person_reaches_their_manager_live(
    server: HelpdeskServer, database_url: str
):
    await _add_admin(database_url)
    people = People()
    admin = await AgentClient(server.base_url).login(ADMIN, PASSWORD)
    supervisor = await AgentClient(server.base_url).login(people.supervisor, PASSWORD)
    alice = await AgentClient(server.base_url).login(people.alice, PASSWORD)
    bob = await AgentClient(server.base_url).login(people.bob, PASSWORD)
    chat = None
    try:
        # The bot answers chats once an article is published: routing waits for a hand-over.
        article = await supervisor.http.post(
            "/api/kb/articles",
            json={
                "title": "Opening hours",
                "body": "We are open from nine to five.",
                "phrasings": ["when are you open"],
                "status": "published",
            },
        )
        assert article.status_code == 201, article.text
        async with asyncio.timeout(15):  # until the server's index (and so its bot) has it
            while not (
                await supervisor.http.get("/api/kb/suggestions", params={"text": "open"})
            ).json():
                await asyncio.sleep(0.05)
        me = {}
        for client in (alice, bob):
            answer = await client.http.post("/api/me/presence", json={"presence": "online"})
            assert answer.status_code == 200, answer.text
            me[client] = answer.json()["agent_id"]
        assert (await bob.http.post("/api/me/heartbeat")).json()["effective_presence"] == "online"

        chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
        number = (await chat.say("c1", "when are you open?"))["ticket"]
        await supervisor.reactions_settled()
        customer_id = (await supervisor.ticket(number)).json()["customer_id"]
        assert (await supervisor.ticket(number)).json()["assignee_id"] is None  # the bot's

        named = await admin.http.put(
            f"/api/customers/{customer_id}/managers",
            json={"manager_id": me[bob], "backup_id": me[alice], "key_account": True},
        )
        assert named.status_code == 200, named.text
        refused = await supervisor.http.put(
            f"/api/customers/{customer_id}/managers", json={"manager_id": me[alice]}
        )
        assert refused.status_code == 403

        async with Feed(bob.http).open() as feed:
            await chat.say("c2", "I want to talk to a person")
            assigned = await feed.next("assigned")
            assert assigned["ticket"] == number and assigned["by"] == "routing"
            await chat.say("c3", "It is about my card")
            message = await feed.next("message")
            assert message["ticket"] == number and "card" in message["preview"]

        detail = (await bob.ticket(number)).json()
        assert detail["assignee_id"] == me[bob]
        assert "Chosen: Bob Agent, the customer's relationship manager." in detail["routing_reason"]
        unattended = await supervisor.http.get("/api/routing/unattended")
        assert unattended.status_code == 200 and unattended.json() == []

        # Bob hands it back: it goes to the backup, alice; a supervisor gives it to bob again.
        back = await bob.http.post(f"/api/tickets/{number}/hand-back")
        assert back.status_code == 200, back.text
        assert [d["outcome"] for d in back.json()][-2:] == ["released", "assigned"]
        assert (await alice.ticket(number)).json()["assignee_id"] == me[alice]
        denied = await alice.http.post(f"/api/tickets/{number}/assign", json={"agent_id": me[bob]})
        assert denied.status_code == 403
        again = await supervisor.http.post(
            f"/api/tickets/{number}/assign", json={"agent_id": me[bob], "note": "he knows them"}
        )
        assert again.status_code == 200, again.text
        assert again.json()[-1]["reason"].startswith("Reassigned by Sam Supervisor")

        # Clearing the assignee never leaves the ticket unattended: routed again or held.
        cleared = await supervisor.change(number, assignee_id=None)
        assert cleared.status_code == 200, cleared.text
        trail = (await supervisor.http.get(f"/api/tickets/{number}/routing")).json()
        assert trail[-2]["outcome"] == "released" and trail[-1]["outcome"] in ("assigned", "held")
        assert "unassigned by Sam Supervisor" in trail[-2]["reason"]
        assert (await supervisor.http.get("/api/routing/unattended")).json() == []
        patched = await supervisor.change(number, assignee_id=me[bob])
        assert patched.status_code == 200 and patched.json()["assignee_id"] == me[bob]
        trail = (await supervisor.http.get(f"/api/tickets/{number}/routing")).json()
        assert trail[-1]["outcome"] == "manual"

        # Admins set routing profiles; agents may read them.
        profile = await admin.http.put(
            f"/api/agents/{me[alice]}/routing",
            json={"skills": ["Cards"], "capacity": 4, "channel_weights": {"webchat": 2}},
        )
        assert profile.status_code == 200, profile.text
        assert profile.json()["skills"] == ["cards"] and profile.json()["capacity"] == 4
        wrong = await admin.http.put(f"/api/agents/{me[alice]}/routing", json={"capacity": -1})
        assert wrong.status_code == 422
        assert (
            await alice.http.put(f"/api/agents/{me[alice]}/routing", json={})
        ).status_code == 403
    finally:
        if chat is not None:
            await chat.close()
        for client in (admin, supervisor, alice, bob):
            await client.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_live_feed_works_across_processes(
    server: HelpdeskServer, database_url: str, tmp_path: Path
):
    """The chat and the routing happen in one process, the agent's feed is on another."""
    other = HelpdeskServer(tmp_path / "other", database_url).start()
    bob = await AgentClient(other.base_url).login(People().bob, PASSWORD)
    chat = None
    try:
        online = await bob.http.post("/api/me/presence", json={"presence": "online"})
        assert online.status_code == 200, online.text
        async with Feed(bob.http).open() as feed:
            chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
            number = (await chat.say("c1", "My card does not work"))["ticket"]
            assigned = await feed.next("assigned")
            assert assigned["ticket"] == number
            await chat.say("c2", "Are you there?")
            assert (await feed.next("message"))["preview"] == "Are you there?"
        assert (await bob.ticket(number)).json()["assignee_id"] == online.json()["agent_id"]
    finally:
        if chat is not None:
            await chat.close()
        await bob.close()
        other.stop()
