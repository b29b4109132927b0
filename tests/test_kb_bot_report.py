"""What a supervisor sees of the answer bot, through the real server: its decision and the
signals behind it on each ticket, the report of answers, votes, hand-overs and refused questions,
and a refused question turned into a draft article in one call."""

from __future__ import annotations

import asyncio
from typing import Any

from helpdesk import payloads
from helpdesk.conversation.handover import HANDED_OVER_TEXT
from helpdesk.kb.signals import SIGNAL_NAMES
from tests.conftest import PASSWORD, People
from tests.support.clients import AgentClient
from tests.support.server import HelpdeskServer
from tests.test_kb_bot_webchat import bot_says, choose, customer, publish_articles, say

OFF_TOPIC = "How can I improve my golf swing?"


async def decisions(sam: AgentClient, number: int, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(20):
        while True:
            response = await sam.http.get(f"/api/tickets/{number}/kb/decisions")
            assert response.status_code == 200, response.text
            if len(response.json()) >= count:
                return list(response.json())
            await asyncio.sleep(0.2)


async def test_each_decision_is_on_the_ticket_with_its_signals(server: HelpdeskServer):
    sam, ids = await publish_articles(server.base_url)
    chat = await customer(server)
    ack = await say(chat, "I forgott my pasword")
    answer = await bot_says(chat)
    assert answer["author"] == "bot"
    [answered] = await decisions(sam, ack["ticket"], 1)
    assert answered["kind"] == "answered"
    assert answered["article_id"] == ids["Reset your password"]
    assert answered["message_id"] == ack["message_id"]
    assert set(answered["signals"]) == set(SIGNAL_NAMES)
    assert all(0 <= v <= 1 for v in answered["signals"].values())
    assert answered["confidence"] >= answered["threshold"]
    assert "'forgott' as 'forgot'" in answered["reason"]  # the typo it read through

    chat = await customer(server)
    ack = await say(chat, OFF_TOPIC)
    assert (await bot_says(chat))["text"] == HANDED_OVER_TEXT
    [refused] = await decisions(sam, ack["ticket"], 1)
    assert refused["kind"] == "refused" and refused["confidence"] < refused["threshold"]
    assert "below the threshold" in refused["reason"] and "weakest signal" in refused["reason"]
    assert refused["signals"]["coverage"] == 0  # no word of it is in any article

    missing = await sam.http.get("/api/tickets/999999/kb/decisions")
    assert missing.status_code == 404 and "no ticket #999999" in missing.text


async def test_the_report_counts_answers_votes_hand_overs_and_refused_questions(
    server: HelpdeskServer,
):
    sam, ids = await publish_articles(server.base_url)
    helped = await customer(server)
    await say(helped, "how do I cancel a transfer")
    await bot_says(helped)
    await choose(helped, payloads.kb_helped(ids["Cancel a transfer"]))
    await bot_says(helped)
    unhelped = await customer(server)
    await say(unhelped, "when will my new card be delivered?")
    await bot_says(unhelped)
    await choose(unhelped, payloads.kb_not_helped(ids["Where is my card?"]))
    await bot_says(unhelped)
    for text in (OFF_TOPIC, "how can i improve my GOLF swing", "Do you sell gift vouchers?"):
        chat = await customer(server)
        await say(chat, text)
        assert (await bot_says(chat))["text"] == HANDED_OVER_TEXT
    await sam.reactions_settled()

    response = await sam.http.get("/api/kb/bot/report")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["decisions"] == {"answered": 2, "refused": 3, "handed_over": 1}
    assert report["answers"]["helped"] == 1 and report["answers"]["not_helped"] == 1
    assert report["answers"]["total"] == 2
    assert report["hand_overs"] == 1 and report["refused"] == 3
    # The same question in other case and punctuation counts as one, asked twice, first.
    first, second = report["questions"]
    assert first["times"] == 2 and first["text"] == "how can i improve my GOLF swing"
    assert second["times"] == 1 and second["text"] == "Do you sell gift vouchers?"
    assert set(first["signals"]) == set(SIGNAL_NAMES)

    # A period with nothing in it reports nothing; a time without a zone is refused clearly.
    empty = await sam.http.get("/api/kb/bot/report", params={"until": "2000-01-01T00:00Z"})
    assert empty.json()["decisions"] == {"answered": 0, "refused": 0, "handed_over": 0}
    naive = await sam.http.get("/api/kb/bot/report", params={"since": "2026-01-01T00:00"})
    assert naive.status_code == 422 and "time zone" in naive.text
    # Agents do not get the report.
    alice = await AgentClient(server.base_url).login(People().alice, PASSWORD)
    assert (await alice.http.get("/api/kb/bot/report")).status_code == 403


async def test_a_refused_question_becomes_a_draft_article_in_one_call(server: HelpdeskServer):
    sam, _ids = await publish_articles(server.base_url)
    chat = await customer(server)
    ack = await say(chat, "Do you sell gift vouchers?")
    assert (await bot_says(chat))["text"] == HANDED_OVER_TEXT
    [refused] = await decisions(sam, ack["ticket"], 1)

    alice = await AgentClient(server.base_url).login(People().alice, PASSWORD)
    url = f"/api/kb/bot/refused/{refused['id']}/draft"
    assert (await alice.http.post(url, json={})).status_code == 403
    made = await sam.http.post(url, json={"title": "Gift vouchers"})
    assert made.status_code == 201, made.text
    article = made.json()
    assert article["status"] == "draft" and article["title"] == "Gift vouchers"
    assert article["phrasings"] == ["Do you sell gift vouchers?"]
    # The report shows the question as taken care of; a second draft is refused.
    report = (await sam.http.get("/api/kb/bot/report")).json()
    assert report["questions"][0]["draft_article_id"] == article["id"]
    again = await sam.http.post(url, json={})
    assert again.status_code == 409 and "already has draft" in again.text
    # Only refused questions make drafts, and unknown ones are a clear 404.
    assert (await sam.http.post("/api/kb/bot/refused/999999/draft", json={})).status_code == 404
