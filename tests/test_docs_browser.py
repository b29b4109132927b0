"""/docs in a real browser with no way out of 127.0.0.1: the page loads from the helpdesk's own
files, an agent logs in from it, and the page is then authorised to reply to a ticket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest_asyncio
from playwright.async_api import Browser, Page, Route, expect

from tests.conftest import PASSWORD, People, seed_staff
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest_asyncio.fixture
async def docs_server(tmp_path: Path) -> AsyncIterator[HelpdeskServer]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    await seed_staff(database_url)
    process = await asyncio.to_thread(HelpdeskServer(tmp_path / "server", database_url).start)
    yield process
    await asyncio.to_thread(process.stop)


async def offline_page(browser: Browser, base_url: str, blocked: list[str]) -> Page:
    context = await browser.new_context(base_url=base_url)
    context.set_default_timeout(15_000)

    async def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_loopback)
    return await context.new_page()


async def execute(page: Page, operation: str, body: dict[str, str], **params: str) -> None:
    """Open an operation on /docs, fill its parameters and body, and press Execute."""
    block = page.locator(f"#operations-{operation}")
    await block.locator(".opblock-summary").click()
    for name, value in params.items():
        await block.locator(f'input[placeholder="{name}"]').fill(value)
    await block.locator("textarea.body-param__text").fill(json.dumps(body))
    await block.locator("button.execute").click()
    await expect(
        block.locator(".live-responses-table td.response-col_status:not(.col_header)")
    ).to_be_visible()


async def test_an_agent_replies_from_docs_without_the_internet(
    browser: Browser, docs_server: HelpdeskServer
):
    chat = await ChatClient(docs_server.ws_url, await chat_token(docs_server.base_url)).connect()
    number = (await chat.say("c1", "Where is my parcel?"))["ticket"]
    blocked: list[str] = []
    page = await offline_page(browser, docs_server.base_url, blocked)
    try:
        await page.goto("/docs")
        await expect(page.locator(".swagger-ui .info .title")).to_contain_text("helpdesk")
        await execute(
            page, "auth-login_api_auth_login_post", {"email": People().alice, "password": PASSWORD}
        )
        login = page.locator("#operations-auth-login_api_auth_login_post")
        await expect(
            login.locator(".live-responses-table td.response-col_status:not(.col_header)")
        ).to_have_text("200")
        # The login authorised the page: the padlocks are closed.
        await expect(page.locator(".auth-wrapper .authorize.locked")).to_be_visible()
        await execute(
            page,
            "tickets-reply_api_tickets__number__reply_post",
            {"text": "It is on its way, from /docs."},
            number=str(number),
        )
        reply = page.locator("#operations-tickets-reply_api_tickets__number__reply_post")
        await expect(
            reply.locator(".live-responses-table td.response-col_status:not(.col_header)")
        ).to_have_text("200")
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "docs_offline.png", full_page=True)
        raise
    finally:
        await page.context.close()
    assert blocked == []  # nothing was even attempted outside
    alice = await AgentClient(docs_server.base_url).login(People().alice, PASSWORD)
    detail = (await alice.ticket(number)).json()
    assert detail["messages"][-1]["text"] == "It is on its way, from /docs."
    await alice.close()
    await chat.close()
