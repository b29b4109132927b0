"""The bot's buttons in the real widget (headless Chromium, real server): a customer taps
"Yes, that helped" and the ticket is resolved."""

from __future__ import annotations

from playwright.async_api import Page, expect

from helpdesk.kb.bot import HELPED_LABEL, NOT_HELPED_LABEL, PERSON_LABEL, THANKS_TEXT
from tests import test_widget_browser as widget_tests
from tests.kb_articles import ARTICLES
from tests.support.browser import ChatWidget
from tests.support.server import HelpdeskServer
from tests.test_kb_bot_webchat import publish_articles

# The widget tests' fixtures: a fresh page per test, a server on SQLite (and conftest's one
# Chromium for the session).
sqlite_server = widget_tests.sqlite_server
page = widget_tests.page
widget = widget_tests.widget
open_chat = widget_tests.open_chat


async def test_the_customer_taps_yes_under_the_bots_answer(
    page: Page, widget: ChatWidget, sqlite_server: HelpdeskServer
) -> None:
    sam, _ids = await publish_articles(sqlite_server.base_url)
    await open_chat(page, widget)
    await widget.expect_sent(await widget.send("I forgot my password"))
    answer = widget.message(ARTICLES[0].title)
    await expect(answer).to_be_visible(timeout=20_000)
    choices = page.get_by_test_id("chat-choice")
    await expect(choices).to_have_text([HELPED_LABEL, NOT_HELPED_LABEL, PERSON_LABEL])

    await choices.first.click()
    await widget.expect_sent(widget.message(HELPED_LABEL))
    await expect(widget.message(THANKS_TEXT)).to_be_visible()
    await expect(choices).to_have_count(0)  # the question is answered: no buttons left
    queue = await sam.queue(status="resolved")
    assert [t["subject"] for t in queue["tickets"]] == ["I forgot my password"]
    assert await widget.unsent() == []
    await sam.close()


async def test_buttons_come_back_after_a_reload(
    page: Page, widget: ChatWidget, sqlite_server: HelpdeskServer
) -> None:
    sam, _ids = await publish_articles(sqlite_server.base_url)
    await open_chat(page, widget)
    await widget.send("undo my transfer")
    choices = page.get_by_test_id("chat-choice")
    await expect(choices).to_have_count(3, timeout=20_000)
    await page.reload()
    await widget.open()
    await expect(choices).to_have_count(3)
    await choices.nth(2).click()
    await expect(widget.message("a person will answer you here")).to_be_visible()
    await sam.close()
