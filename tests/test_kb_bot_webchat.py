"""The answer bot as a web chat customer meets it, through the real server: an answer with
buttons, "yes" resolves, "no" and everything the bot should not handle go to a person, who sees
what the bot tried."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from helpdesk import payloads
from helpdesk.conversation.handover import HANDED_OVER_TEXT
from helpdesk.conversation.satisfaction import QUESTION_TEXT
from helpdesk.conversation.satisfaction import THANKS_TEXT as RATING_THANKS_TEXT
from helpdesk.kb.bot import ASK_TEXT, HELPED_LABEL, NOT_HELPED_LABEL, PERSON_LABEL, THANKS_TEXT
from tests.conftest import PASSWORD, People
from tests.kb_articles import ARTICLES
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer

_ids = itertools.count(1)


async def publish_articles(base_url: str) -> tuple[AgentClient, dict[str, int]]:
    sam = await AgentClient(base_url).login(People().supervisor, PASSWORD)
    ids: dict[str, int] = {}
    for article in ARTICLES[:3]:
        response = await sam.http.post(
            "/api/kb/articles",
            json={
                "title": article.title,
                "body": f"Here is how: **{article.title}**.",
                "phrasings": list(article.phrasings),
                "status": "published",
            },
        )
        assert response.status_code == 201, response.text
        ids[article.title] = response.json()["id"]
    # The index is rebuilt in the background, perhaps once per article: it is ready when it
    # suggests every new article for its own first phrasing.
    async with asyncio.timeout(60):
        for article in ARTICLES[:3]:
            while True:
                found = await sam.http.get(
                    "/api/kb/suggestions", params={"text": article.phrasings[0]}
                )
                if ids[article.title] in {s["article_id"] for s in found.json()}:
                    break
                await asyncio.sleep(0.2)
    return sam, ids


async def customer(server: HelpdeskServer) -> ChatClient:
    return await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()


async def say(chat: ChatClient, text: str) -> dict[str, Any]:
    ack = await chat.say(f"m{next(_ids)}", text)
    assert ack["type"] == "ack", ack
    return ack


async def choose(chat: ChatClient, payload: str) -> dict[str, Any]:
    await chat.send_frame({"type": "choose", "client_id": f"c{next(_ids)}", "payload": payload})
    return await chat.expect("ack", "error")


async def bot_says(chat: ChatClient) -> dict[str, Any]:
    frame = await chat.expect("message", timeout=20)
    assert frame["author"] in ("bot", "system"), frame
    return frame


async def ticket_of(sam: AgentClient, number: int) -> dict[str, Any]:
    response = await sam.ticket(number)
    assert response.status_code == 200
    return response.json()


async def audit_actions(sam: AgentClient, number: int) -> list[str]:
    response = await sam.http.get(f"/api/tickets/{number}/audit")
    return [entry["action"] for entry in response.json()]


async def wait_for_note(sam: AgentClient, number: int, words: str) -> str:
    async with asyncio.timeout(20):
        while True:
            notes = [
                m["text"]
                for m in (await ticket_of(sam, number))["messages"]
                if m["direction"] == "note"
            ]
            if any(words in n for n in notes):
                return next(n for n in notes if words in n)
            await asyncio.sleep(0.2)


async def test_the_bot_answers_and_a_yes_resolves_the_ticket(server: HelpdeskServer):
    sam, ids = await publish_articles(server.base_url)
    chat = await customer(server)
    ack = await say(chat, "I forgott my pasword")
    answer = await bot_says(chat)
    assert answer["author"] == "bot"
    assert answer["text"].startswith("Reset your password") and ASK_TEXT in answer["text"]
    article = ids["Reset your password"]
    assert answer["quick_replies"] == [
        {"payload": payloads.kb_helped(article), "label": HELPED_LABEL},
        {"payload": payloads.kb_not_helped(article), "label": NOT_HELPED_LABEL},
        {"payload": payloads.HUMAN, "label": PERSON_LABEL},
    ]
    # The buttons are in the history too, for a customer who reloads the page.
    again = await customer_with(server, chat.token)
    shown = [m for m in again.ready["history"] if m["id"] == answer["id"]]
    assert shown[0]["quick_replies"] == answer["quick_replies"]

    assert (await choose(chat, payloads.kb_helped(article)))["type"] == "ack"
    thanks = await bot_says(chat)
    assert thanks["text"] == THANKS_TEXT
    ticket = await ticket_of(sam, ack["ticket"])
    assert ticket["status"] == "resolved"
    assert "ticket.resolved_by_bot" in await audit_actions(sam, ack["ticket"])
    stored = (await sam.http.get(f"/api/kb/articles/{article}")).json()
    assert stored["helpful_count"] == 1 and stored["uses"] == 1
    # Tapping again is no second vote.
    await choose(chat, payloads.kb_helped(article))
    await sam.reactions_settled()
    stored = (await sam.http.get(f"/api/kb/articles/{article}")).json()
    assert stored["helpful_count"] == 1
    await chat.close()
    await again.close()


async def customer_with(server: HelpdeskServer, token: str) -> ChatClient:
    return await ChatClient(server.ws_url, token).connect()


async def test_no_a_person_or_a_complaint_hand_over_with_the_bots_attempt_visible(
    server: HelpdeskServer,
):
    sam, ids = await publish_articles(server.base_url)

    # "No": handed over, the agent sees what the bot sent and why it stepped aside.
    chat = await customer(server)
    ack = await say(chat, "when will my new card be delivered?")
    answer = await bot_says(chat)
    card = ids["Where is my card?"]
    assert answer["quick_replies"][1]["payload"] == payloads.kb_not_helped(card)
    await choose(chat, payloads.kb_not_helped(card))
    assert (await bot_says(chat))["text"] == HANDED_OVER_TEXT
    note = await wait_for_note(sam, ack["ticket"], "did not help")
    assert f"#{card}" in note
    texts = [m["text"] for m in (await ticket_of(sam, ack["ticket"]))["messages"]]
    assert answer["text"] in texts
    assert "ticket.handed_over" in await audit_actions(sam, ack["ticket"])
    assert (await ticket_of(sam, ack["ticket"]))["handed_over_at"] is not None
    stored = (await sam.http.get(f"/api/kb/articles/{card}")).json()
    assert stored["not_helpful_count"] == 1
    # The bot stays silent on a ticket that people have.
    await say(chat, "undo my transfer")
    await sam.reactions_settled()
    assert all(
        m["author_type"] != "bot" or m["text"] == answer["text"]
        for m in (await ticket_of(sam, ack["ticket"]))["messages"]
        if m["direction"] == "out"
    )

    # Asking for a person: no bot answer at all.
    chat = await customer(server)
    await say(chat, "I want to talk to a human")
    assert (await bot_says(chat))["text"] == HANDED_OVER_TEXT

    # A complaint goes to people at once, even when an article would match.
    chat = await customer(server)
    ack = await say(chat, "This is unacceptable, I want to complain: my card has not arrived yet")
    assert (await bot_says(chat))["text"] == HANDED_OVER_TEXT
    assert "complaint" in await wait_for_note(sam, ack["ticket"], "complaint")

    # Not confident: handed over, the note lists the bot's best guesses for the agent.
    chat = await customer(server)
    ack = await say(chat, "what's the weather like in Lisbon tomorrow")
    assert (await bot_says(chat))["text"] == HANDED_OVER_TEXT
    await wait_for_note(sam, ack["ticket"], "no article fits well enough")


async def test_never_two_bot_answers_in_a_row_and_odd_messages_do_not_break_it(
    server: HelpdeskServer,
):
    sam, ids = await publish_articles(server.base_url)
    chat = await customer(server)
    ack = await say(chat, "how do I cancel a transfer")
    first = await bot_says(chat)
    assert first["author"] == "bot"
    # Writing again instead of answering the bot's question means the answer did not do.
    await say(chat, "I sent money to the wrong account")
    assert (await bot_says(chat))["text"] == HANDED_OVER_TEXT
    await wait_for_note(sam, ack["ticket"], "wrote again")

    # A button that was never offered to this chat is refused, not counted.
    other = await customer(server)
    refused = await choose(other, payloads.kb_helped(ids["Cancel a transfer"]))
    assert refused["type"] == "error" and refused["code"] == "not_offered"
    refused = await choose(other, "csat:9")
    assert refused["type"] == "error" and refused["code"] == "bad_frame"

    # Binary-looking or huge messages: stored, no crash, no suggestion, a person takes over.
    for text in ["\ufffd\ufffd\x01\x02 %PDF \x03\x04 0x8f9a 0xff", "password " * 1500]:
        chat = await customer(server)
        ack = await say(chat, text)
        assert (await bot_says(chat))["text"] == HANDED_OVER_TEXT
        await wait_for_note(sam, ack["ticket"], "no article matches")
        found = await sam.http.get(f"/api/tickets/{ack['ticket']}/suggestions")
        assert found.json()["suggestions"] == []
    health = await sam.http.get("/api/health")
    assert health.json()["status"] == "ok"


async def test_after_a_person_resolves_the_chat_asks_for_a_rating_the_agent_then_sees(
    server: HelpdeskServer,
):
    sam = await AgentClient(server.base_url).login(People().supervisor, PASSWORD)
    chat = await customer(server)
    ack = await say(chat, "My statement shows a fee I do not understand")
    assert (await sam.reply(ack["ticket"], "That is the yearly card fee.")).status_code == 200
    assert (await chat.expect("message", timeout=20))["author"] == "agent"
    assert (await sam.change(ack["ticket"], status="resolved")).status_code == 200

    question = await bot_says(chat)
    assert question["text"] == QUESTION_TEXT
    ratings = [q["payload"] for q in question["quick_replies"]]
    assert ratings == [payloads.rating(score) for score in range(1, 6)]
    assert (await choose(chat, payloads.rating(4)))["type"] == "ack"
    assert (await bot_says(chat))["text"] == RATING_THANKS_TEXT
    ticket = await ticket_of(sam, ack["ticket"])
    assert ticket["status"] == "resolved" and ticket["satisfaction"] == 4
