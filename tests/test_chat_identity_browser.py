"""Who the chat customer is, in the real widget (headless Chromium, real server, Dovecot, an SMTP
sink): a customer who wrote by email opens the chat, gives her name and that email, gets the code
by email, types it, and the agent sees one customer with both histories."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from tests.conftest import PASSWORD, People, seed_staff
from tests.email_helpers import email_env, eventually
from tests.support.browser import ChatWidget
from tests.support.clients import AgentClient
from tests.support.dovecot import ImapClient, Mailbox, mail
from tests.support.server import HelpdeskServer
from tests.support.smtp import SmtpServer

ANN = "ann@example.test"
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CODE = re.compile(r"Your code is (\d{6})")


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = await SmtpServer().start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def mail_server(
    tmp_path: Path, dovecot: Mailbox, smtp: SmtpServer
) -> AsyncIterator[HelpdeskServer]:
    """`helpdesk serve` on SQLite reading Dovecot, sending by the sink; the chat asks for a
    name and an email before the first message."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    await seed_staff(database_url)
    env = {
        **email_env(dovecot, smtp, auto_ack=False),
        "HELPDESK_WEBCHAT__ASK_NAME": "required",
        "HELPDESK_WEBCHAT__ASK_EMAIL": "required",
    }
    server = HelpdeskServer(tmp_path / "server", database_url, **env)
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.stop)


@pytest_asyncio.fixture
async def page(browser: Browser, mail_server: HelpdeskServer) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=mail_server.base_url)
    context.set_default_timeout(15_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(error.message))
    yield page
    await context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


async def tickets_of(agent: AgentClient, customer_id: int) -> list[dict[str, Any]]:
    queue = await agent.queue(customer_id=customer_id)
    return list(queue["tickets"])


async def test_a_proven_email_in_the_widget_joins_the_customers_email_history(
    page: Page, mail_server: HelpdeskServer, dovecot: Mailbox, smtp: SmtpServer
) -> None:
    sam = await AgentClient(mail_server.base_url).login(People().supervisor, PASSWORD)
    async with ImapClient(dovecot) as imap:
        await imap.append(mail(f"Ann Example <{ANN}>", "My invoice is wrong", "It says 300."))

    async def email_ticket() -> dict[str, Any] | None:
        queue = await sam.queue()
        found = [t for t in queue["tickets"] if t["subject"] == "My invoice is wrong"]
        return found[0] if found else None

    ann = (await eventually(email_ticket))["customer_id"]

    widget = ChatWidget(page)
    await page.goto("/chat")
    await widget.open_button.click()
    await expect(widget.state).to_have_text("online")
    await expect(page.get_by_test_id("chat-name")).to_be_visible()
    # Nothing can be sent before saying who one is: the server refuses it too.
    await expect(page.get_by_test_id("chat-identify-skip")).to_be_hidden()
    await page.get_by_test_id("chat-name").fill("Ann Example")
    await page.get_by_test_id("chat-email").fill(ANN)
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=SHOTS / "chat_identity_1_details.png")
    await page.get_by_test_id("chat-identify-send").click()

    code_note = page.get_by_test_id("chat-code-note")
    await expect(code_note).to_have_text(f"Type the code we emailed to {ANN}.")
    await expect(page.get_by_test_id("chat-identify-status")).to_have_text(
        f"a code was sent to {ANN}"
    )
    [code_mail] = await smtp.wait_for(1)
    assert code_mail.recipients == [ANN]
    found = CODE.search(code_mail.message.get_content())
    assert found is not None, code_mail.message.get_content()

    # The claim alone joins nothing: the agent sees it as unverified, on a customer of its own.
    await widget.expect_sent(await widget.send("Has my invoice been fixed?"))

    async def chat_ticket() -> dict[str, Any] | None:
        queue = await sam.queue()
        found = [t for t in queue["tickets"] if t["channel"] == "webchat"]
        return found[0] if found else None

    chat = await eventually(chat_ticket)
    assert chat["customer_id"] != ann and chat["customer_name"] == "Ann Example"
    detail = (await sam.ticket(chat["number"])).json()
    assert ("email", ANN, False) in {
        (i["channel"], i["address"], i["verified"]) for i in detail["customer"]["identities"]
    }
    assert [t["subject"] for t in await tickets_of(sam, ann)] == ["My invoice is wrong"]

    wrong = f"{(int(found.group(1)) + 1) % 1_000_000:06d}"
    await page.get_by_test_id("chat-code").fill(wrong)
    await page.get_by_test_id("chat-code-send").click()
    await expect(page.get_by_test_id("chat-identify-status")).to_have_text(
        "that code is not right; 4 attempts left"
    )
    await page.get_by_test_id("chat-code").fill(found.group(1))
    await page.screenshot(path=SHOTS / "chat_identity_2_code.png")
    await page.get_by_test_id("chat-code-send").click()
    await expect(widget.message(f"your email {ANN} is confirmed")).to_be_visible()
    await expect(page.get_by_test_id("chat-identify")).to_be_hidden()
    await page.screenshot(path=SHOTS / "chat_identity_3_confirmed.png")

    # One customer, both histories: the mail and the chat.
    tickets = await tickets_of(sam, ann)
    assert sorted((t["channel"], t["subject"]) for t in tickets) == [
        ("email", "My invoice is wrong"),
        ("webchat", "Has my invoice been fixed?"),
    ]
    detail = (await sam.ticket(chat["number"])).json()
    assert detail["customer"]["id"] == ann
    assert {(i["channel"], i["verified"]) for i in detail["customer"]["identities"]} == {
        ("email", True),
        ("webchat", True),
    }
    # The chat goes on as that customer.
    await widget.expect_sent(await widget.send("Thank you!"))
    assert len(await tickets_of(sam, ann)) == 2
    await sam.close()
