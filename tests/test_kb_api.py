"""The knowledge base in the agent API, through the real server: who may manage articles, and
what agents do with them on a ticket."""

from __future__ import annotations

import asyncio

from tests.conftest import PASSWORD, People
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer

ARTICLE = {
    "title": "Where is my card?",
    "body": "Cards arrive within **5 working days**.\n\n<script>alert(1)</script>",
    "phrasings": ["my card has not arrived yet", "when will my new card be delivered"],
    "tags": ["cards"],
}


async def test_supervisors_manage_articles_and_agents_read_published_ones(server: HelpdeskServer):
    people = People()
    sam = await AgentClient(server.base_url).login(people.supervisor, PASSWORD)
    alice = await AgentClient(server.base_url).login(people.alice, PASSWORD)

    refused = await alice.http.post("/api/kb/articles", json=ARTICLE)
    assert refused.status_code == 403
    created = await sam.http.post("/api/kb/articles", json=ARTICLE)
    assert created.status_code == 201
    draft = created.json()
    assert draft["status"] == "draft" and draft["slug"] == "where-is-my-card"
    assert "<strong>5 working days</strong>" in draft["html"] and "<script>" not in draft["html"]

    # A draft is invisible to agents until it is published.
    assert (await alice.http.get(f"/api/kb/articles/{draft['id']}")).status_code == 404
    assert (await alice.http.get("/api/kb/articles")).json()["total"] == 0
    assert (await alice.http.post(f"/api/kb/articles/{draft['id']}/publish")).status_code == 403
    published = await sam.http.post(f"/api/kb/articles/{draft['id']}/publish")
    assert published.json()["status"] == "published"
    assert (await alice.http.get(f"/api/kb/articles/{draft['id']}")).status_code == 200

    patch = {"title": "Card delivery times"}
    assert (
        await alice.http.patch(f"/api/kb/articles/{draft['id']}", json=patch)
    ).status_code == 403
    changed = await sam.http.patch(f"/api/kb/articles/{draft['id']}", json=patch)
    assert changed.json()["title"] == "Card delivery times"
    bad = await sam.http.patch(f"/api/kb/articles/{draft['id']}", json={"language": "not a code"})
    assert bad.status_code == 422 and "language" in bad.json()["detail"]

    assert (await alice.http.delete(f"/api/kb/articles/{draft['id']}")).status_code == 403
    assert (await sam.http.delete(f"/api/kb/articles/{draft['id']}")).status_code == 204
    assert (await sam.http.get(f"/api/kb/articles/{draft['id']}")).status_code == 404
    assert (await AgentClient(server.base_url).http.get("/api/kb/articles")).status_code == 401


async def test_agents_get_suggestions_insert_articles_vote_and_make_drafts(
    server: HelpdeskServer,
):
    people = People()
    sam = await AgentClient(server.base_url).login(people.supervisor, PASSWORD)
    alice = await AgentClient(server.base_url).login(people.alice, PASSWORD)
    article = await sam.http.post("/api/kb/articles", json={**ARTICLE, "status": "published"})
    article_id = article.json()["id"]
    other = {"title": "Reset your password", "phrasings": ["I forgot my password"]}
    await sam.http.post("/api/kb/articles", json={**other, "status": "published"})

    # The customer asks for a person first, so the bot stays out of this ticket.
    chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
    ack = await chat.say("q1", "human")
    ack = await chat.say("q2", "my crd still hasnt arrived, when will it be delivered?")
    number = ack["ticket"]

    async with asyncio.timeout(60):
        while True:
            found = (await alice.http.get(f"/api/tickets/{number}/suggestions")).json()
            if found["suggestions"]:
                break
            await asyncio.sleep(0.2)
    assert found["message_id"] == ack["message_id"]
    best = found["suggestions"][0]
    assert best["article_id"] == article_id and 0 < best["confidence"] <= 1
    assert "when will my new card be delivered" in best["reason"]
    assert len(found["suggestions"]) <= 3

    inserted = await alice.http.post(
        f"/api/tickets/{number}/kb/insert", json={"article_id": article_id}
    )
    assert inserted.json()["text"].startswith("Cards arrive within 5 working days.")
    assert inserted.json()["message_id"] is None
    sent = await alice.http.post(
        f"/api/tickets/{number}/kb/insert", json={"article_id": article_id, "send": True}
    )
    reply = await chat.expect("message")
    while reply["author"] != "agent":  # the hand-over notice came first
        reply = await chat.expect("message")
    assert reply["id"] == sent.json()["message_id"] and reply["author"] == "agent"
    assert reply["text"] == inserted.json()["text"]
    assert (await alice.http.get(f"/api/kb/articles/{article_id}")).json()["uses"] == 2

    assert (
        await alice.http.post(f"/api/kb/articles/{article_id}/votes", json={"helpful": False})
    ).status_code == 204
    assert (await alice.http.get(f"/api/kb/articles/{article_id}")).json()["not_helpful_count"] == 1

    # A good reply becomes a draft, with the customer's question as its known phrasing.
    good = (await alice.reply(number, "Cards to Portugal take up to 10 days.")).json()
    draft = await alice.http.post(
        f"/api/tickets/{number}/kb/draft",
        json={"message_id": good["message"]["id"], "title": "Cards to Portugal"},
    )
    assert draft.status_code == 201
    assert draft.json()["status"] == "draft"
    assert draft.json()["body"] == "Cards to Portugal take up to 10 days."
    assert draft.json()["phrasings"] == ["my crd still hasnt arrived, when will it be delivered?"]
    not_a_reply = await alice.http.post(
        f"/api/tickets/{number}/kb/draft", json={"message_id": ack["message_id"]}
    )
    assert not_a_reply.status_code == 404
    # Carol (Billing) cannot see Support's ticket, so gets nothing from it either.
    carol = await AgentClient(server.base_url).login(people.carol, PASSWORD)
    await alice.change(number, team_id=1)
    hidden = await carol.http.get(f"/api/tickets/{number}/suggestions")
    assert hidden.status_code == 404
    await chat.close()
