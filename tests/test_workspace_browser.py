"""The agents' workspace in headless Chromium against the real server: a customer writes in the
widget, an agent sees it arrive live, answers with a suggested article, resolves, the customer
rates; a second agent sees the first one typing. Screenshots go to tests/screenshots/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Browser, expect

from tests.conftest import PASSWORD, People
from tests.support.browser import ChatWidget
from tests.support.clients import AgentClient
from tests.support.server import HelpdeskServer
from tests.workspace_helpers import (
    browser_page,
    eventually,
    live,
    publish_article,
    sign_in,
    snap,
    start_server,
)

ARTICLE_BODY = "Open Settings, choose Password, then press Reset: a link arrives by email."


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[HelpdeskServer]:
    import asyncio

    process = await start_server(tmp_path)
    yield process
    await asyncio.to_thread(process.stop)


@pytest_asyncio.fixture
async def supervisor(server: HelpdeskServer) -> AsyncIterator[AgentClient]:
    client = await AgentClient(server.base_url).login(People().supervisor, PASSWORD)
    yield client
    await client.close()


async def test_an_agent_answers_a_chat_live_and_the_customer_rates(
    browser: Browser, server: HelpdeskServer, supervisor: AgentClient
) -> None:
    await publish_article(
        supervisor,
        title="Reset your password",
        body=ARTICLE_BODY,
        phrasings=["I forgot my password", "how do I reset my password"],
        probe="password",
    )
    people = People()
    async with browser_page(browser, server) as agent, browser_page(browser, server) as customer:
        # The agent signs in and keeps the queue open.
        await sign_in(agent.page, people.alice)
        await live(agent.page)
        # ? lists the shortcuts; Escape closes the list.
        await agent.page.keyboard.press("?")
        await expect(agent.page.locator("#help")).to_be_visible()
        await expect(agent.page.locator("#help")).to_contain_text("open the selected ticket")
        await agent.page.keyboard.press("Escape")
        await expect(agent.page.locator("#help")).to_be_hidden()
        await expect(agent.page.locator("#presence")).to_have_text("online")
        await expect(agent.page.locator("li.ticket")).to_have_count(0)
        await snap(agent.page, "queue-empty")

        # The customer writes in the widget; the ticket appears in the open queue.
        widget = ChatWidget(customer.page)
        await customer.page.goto("/chat")
        await widget.open()
        await expect(widget.state).to_have_text("online")
        question = "I forgot my password, how do I reset it?"
        await widget.expect_sent(await widget.send(question))
        row = agent.page.locator("li.ticket", has_text=question)
        await expect(row).to_be_visible()
        await expect(agent.page.locator('[data-count="all"]')).to_have_text("1")
        await snap(agent.page, "queue-with-a-chat")
        await snap(customer.page, "customer-chat", fits_phone=False)

        # By keyboard: j selects the first ticket, o opens it.
        await agent.page.keyboard.press("j")
        await expect(row).to_have_class(re.compile(r"\bselected\b"))
        await agent.page.keyboard.press("o")
        await expect(agent.page).to_have_url(re.compile(r"/workspace/tickets/\d+$"))
        number = int(agent.page.url.rsplit("/", 1)[1])
        await expect(agent.page.locator("#messages li.message")).to_have_count(1)
        await expect(agent.page.locator("#messages")).to_contain_text(question)
        await snap(agent.page, "ticket-opened")

        # The top suggestion goes into the reply box; the agent adds a line and sends it.
        suggestion = agent.page.locator(".suggestions li", has_text="Reset your password")
        await suggestion.get_by_role("button", name="Insert").click()
        reply = agent.page.locator("#reply-text")
        await expect(reply).to_have_value(re.compile(re.escape(ARTICLE_BODY)))
        await reply.press("End")
        await reply.press_sequentially("\nWrite again if it does not come.")
        await agent.page.locator('input[name="files"]').set_input_files(
            files=[{"name": "steps.txt", "mimeType": "text/plain", "buffer": b"1. Settings"}]
        )
        await agent.page.get_by_role("button", name="Send reply").click()
        await expect(agent.page.locator("#messages li.message.out")).to_have_count(1)
        sent = agent.page.locator("#messages li.message.out").first
        await expect(sent).to_contain_text(ARTICLE_BODY)
        # The file went with the reply and downloads as it was uploaded.
        link = sent.locator(".files a", has_text="steps.txt")
        download = await agent.page.request.get(await link.get_attribute("href") or "")
        assert download.status == 200 and await download.body() == b"1. Settings"
        assert download.headers["content-disposition"].startswith("attachment")
        # The widget shows it and says so: the delivery state comes live to the ticket page.
        await expect(widget.messages.filter(has_text=ARTICLE_BODY)).to_be_visible()
        await expect(sent.locator(".delivery")).to_have_text("delivered")
        await snap(agent.page, "ticket-replied")

        # The agent resolves with the keyboard; the customer is asked and rates.
        await agent.page.keyboard.press("e")
        await expect(agent.page.locator("#status")).to_have_text("resolved")
        stars = customer.page.get_by_test_id("chat-choice").filter(has_text=re.compile("^★{5}$"))
        await stars.click()
        await snap(customer.page, "customer-rated", fits_phone=False)

        async def rated() -> bool:
            answer = await supervisor.ticket(number)
            return answer.json()["satisfaction"] == 5

        await eventually(rated)
        # The reply's draft was sent: nothing is left to restore on the next visit.
        await agent.page.reload()
        await expect(agent.page.locator("#reply-text")).to_have_value("")
        await snap(agent.page, "ticket-resolved")


async def test_a_second_agent_sees_the_first_typing_and_drafts_survive_a_reload(
    browser: Browser, server: HelpdeskServer, supervisor: AgentClient
) -> None:
    teams = {t["name"]: t["id"] for t in (await supervisor.http.get("/api/teams")).json()}
    agents = {a["email"]: a["id"] for a in (await supervisor.http.get("/api/agents")).json()}
    opened = await supervisor.http.post(
        "/api/tickets",
        json={
            # Placed by hand, so that routing never moves it while agents sign in.
            "team_id": teams["Support"],
            "assignee_id": agents[People().alice],
            "customer": {"name": "Dana Customer", "phone": "+15550100"},
            "subject": "Card stuck in the machine",
            "message": {"channel": "phone", "text": "The ATM kept my card.", "direction": "in"},
        },
    )
    assert opened.status_code == 201, opened.text
    number = opened.json()["ticket"]["number"]
    path = f"/workspace/tickets/{number}"
    people = People()
    async with browser_page(browser, server) as alice, browser_page(browser, server) as bob:
        await sign_in(alice.page, people.supervisor, path=path)
        await sign_in(bob.page, people.bob, path=path)
        await live(alice.page)
        await live(bob.page)
        viewers = alice.page.locator("#viewers")
        await expect(viewers).to_have_text("Bob Agent is viewing")

        await bob.page.keyboard.press("r")
        await bob.page.keyboard.type("We are sending a new card")
        await expect(viewers).to_have_text("Bob Agent is typing…")
        await expect(bob.page.locator("#viewers")).to_have_text("Sam Supervisor is viewing")
        await snap(alice.page, "ticket-someone-typing")

        # Bob's draft is still there after a reload.
        await bob.page.reload()
        await expect(bob.page.locator("#reply-text")).to_have_value("We are sending a new card")

        # Bob leaves; Alice's page no longer names him.
        await bob.page.goto("/workspace")
        await expect(viewers).to_have_text("")
