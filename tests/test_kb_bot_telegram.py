"""The answer bot on Telegram: the same conversation as on web chat, with the article's buttons
as an inline keyboard and the customer's taps coming back as callbacks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import select

from helpdesk import payloads
from helpdesk.common.clock import FixedClock
from helpdesk.conversation.handover import COMPLAINT_TEXT, HANDED_OVER_TEXT
from helpdesk.customers.models import Identity
from helpdesk.kb import articles as kb_articles
from helpdesk.kb.articles import ArticleFields
from helpdesk.kb.bot import HELPED_LABEL, NOT_HELPED_LABEL, PERSON_LABEL, THANKS_TEXT
from helpdesk.kb.models import ArticleStatus
from helpdesk.runtime import Runtime
from helpdesk.tickets.models import Ticket, TicketKind, TicketStatus
from tests.kb_articles import ARTICLES
from tests.support import telegram_api as tg


@pytest_asyncio.fixture
async def kb_runtime(bot_runtime: Runtime, clock: FixedClock) -> AsyncIterator[Runtime]:
    """The Telegram runtime with the shared articles published and indexed."""
    runtime = bot_runtime
    async with runtime.db.transaction() as session:
        for article in ARTICLES:
            await kb_articles.create(
                session,
                ArticleFields(
                    title=article.title,
                    body=f"How to: {article.title.lower()}.",
                    phrasings=list(article.phrasings),
                    status=ArticleStatus.PUBLISHED,
                ),
                now=clock.now(),
            )
    await runtime.events.idle()
    async with asyncio.timeout(120):
        while runtime.kb.service.version == 0 or runtime.kb.service.index is None:
            await asyncio.sleep(0.1)
    yield runtime


async def sent_to(fake: tg.FakeTelegram, chat_id: int, count: int) -> list[tg.Call]:
    """The first `count` messages the bot sent to this chat, waiting for them."""
    async with asyncio.timeout(30):
        while True:
            calls = [
                c for c in fake.calls_of("sendMessage") if str(c.params["chat_id"]) == str(chat_id)
            ]
            if len(calls) >= count:
                return calls[:count]
            await asyncio.sleep(0.05)


def keyboard(call: tg.Call) -> list[tuple[str, str]]:
    rows = call.params["reply_markup"]["inline_keyboard"]
    return [(button["text"], button["callback_data"]) for row in rows for button in row]


async def ticket_of(runtime: Runtime, user_id: int) -> Ticket:
    async with runtime.db.read() as session:
        return await session.scalar(
            select(Ticket)
            .join(Identity, Identity.customer_id == Ticket.customer_id)
            .where(Identity.channel == "telegram", Identity.address == str(user_id))
        )


async def answered_with_article(fake: tg.FakeTelegram, user: dict, text: str) -> tg.Call:
    fake.push(tg.message_update(user, text))
    (answer,) = await sent_to(fake, user["id"], 1)
    assert answer.params["text"].startswith("Reset your password")
    return answer


async def test_the_bot_answers_and_yes_resolves(
    kb_runtime: Runtime, fake_telegram: tg.FakeTelegram
):
    fake, user = fake_telegram, tg.user(901, "Mia")
    answer = await answered_with_article(fake, user, "I forgott my pasword")
    buttons = keyboard(answer)
    assert [label for label, _ in buttons] == [HELPED_LABEL, NOT_HELPED_LABEL, PERSON_LABEL]
    helped = buttons[0][1]
    assert payloads.parse(helped).kind == payloads.PayloadKind.KB_HELPED

    fake.push(tg.callback_update(user, helped, HELPED_LABEL, query_id="q-901"))
    thanks = (await sent_to(fake, user["id"], 2))[1]
    assert thanks.params["text"] == THANKS_TEXT
    assert any(
        c.params["callback_query_id"] == "q-901" for c in fake.calls_of("answerCallbackQuery")
    )
    ticket = await ticket_of(kb_runtime, user["id"])
    assert ticket.status == TicketStatus.RESOLVED and ticket.handed_over_at is None


async def test_not_helped_hands_over_to_a_person(
    kb_runtime: Runtime, fake_telegram: tg.FakeTelegram
):
    fake, user = fake_telegram, tg.user(902, "Noah")
    answer = await answered_with_article(fake, user, "how do i reset my password")
    not_helped = keyboard(answer)[1][1]
    fake.push(tg.callback_update(user, not_helped, NOT_HELPED_LABEL))
    told = (await sent_to(fake, user["id"], 2))[1]
    assert told.params["text"] == HANDED_OVER_TEXT
    ticket = await ticket_of(kb_runtime, user["id"])
    assert ticket.handed_over_at is not None and ticket.status != TicketStatus.RESOLVED
    # The bot stays silent on a ticket a person has.
    fake.push(tg.message_update(user, "I forgot my password"))
    async with asyncio.timeout(10):  # the update is committed ...
        while fake.pending() or kb_runtime.telegram.state.next_offset != fake.highest_offset:
            await asyncio.sleep(0.02)
    await kb_runtime.events.idle()  # the conversation has decided: nothing to say
    await kb_runtime.outbox.deliver_due()
    assert len([c for c in fake.calls_of("sendMessage") if str(c.params["chat_id"]) == "902"]) == 2


async def test_asking_for_a_person_or_complaining_goes_straight_to_people(
    kb_runtime: Runtime, fake_telegram: tg.FakeTelegram
):
    fake = fake_telegram
    asker, complainer = tg.user(903, "Ola"), tg.user(904, "Per")
    fake.push(tg.message_update(asker, "I want to talk to a human"))
    fake.push(tg.message_update(complainer, "/complaint"))
    (told,) = await sent_to(fake, 903, 1)
    assert told.params["text"] == HANDED_OVER_TEXT
    (registered,) = await sent_to(fake, 904, 1)
    complaint = await ticket_of(kb_runtime, 904)
    assert registered.params["text"] == COMPLAINT_TEXT.format(number=complaint.id)
    assert complaint.kind == TicketKind.COMPLAINT and complaint.handed_over_at is not None
