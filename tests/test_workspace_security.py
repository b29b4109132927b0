"""The workspace in the browser against hostile input and hostile requests: names, subjects,
messages and articles carrying script render as text; a form without the CSRF token is refused;
an agent cannot open another team's ticket by its URL; a signed-out user is sent to sign in and
signing out ends the session on the server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest_asyncio
from playwright.async_api import Browser, expect

from tests.conftest import PASSWORD, People
from tests.support.clients import AgentClient
from tests.support.server import HelpdeskServer
from tests.workspace_helpers import (
    browser_page,
    live,
    publish_article,
    sign_in,
    snap,
    start_server,
)

NAME = "<img src=x onerror=alert('name')>"
SUBJECT = "<script>alert('subject')</script> refund"
TEXT = "Still waiting <a href=\"javascript:alert('text')\">click</a> <img src=x onerror=alert(1)>"
ARTICLE_TITLE = "<script>alert('article')</script> Refunds"
ARTICLE_BODY = (
    "<img src=x onerror=alert('body')> [see](javascript:alert('link')) refunds take 5 days"
)


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[HelpdeskServer]:
    process = await start_server(tmp_path)
    yield process
    await asyncio.to_thread(process.stop)


@pytest_asyncio.fixture
async def hostile_ticket(server: HelpdeskServer) -> AsyncIterator[int]:
    """A Support ticket whose customer name, subject and message carry payloads, and an
    article suggested for it with payloads in its title and body."""
    supervisor = await AgentClient(server.base_url).login(People().supervisor, PASSWORD)
    try:
        teams = {t["name"]: t["id"] for t in (await supervisor.http.get("/api/teams")).json()}
        agents = {a["email"]: a["id"] for a in (await supervisor.http.get("/api/agents")).json()}
        opened = await supervisor.http.post(
            "/api/tickets",
            json={
                # Placed by hand, so that routing never moves it while agents sign in.
                "team_id": teams["Support"],
                "assignee_id": agents[People().alice],
                "customer": {"name": NAME, "phone": "+15550111"},
                "subject": SUBJECT,
                "message": {"channel": "phone", "text": TEXT, "direction": "in"},
            },
        )
        assert opened.status_code == 201, opened.text
        number = opened.json()["ticket"]["number"]
        # The customer's latest words are what the articles are suggested for.
        called = await supervisor.http.post(
            f"/api/tickets/{number}/touch-points",
            json={"channel": "phone", "direction": "in", "text": "Where is my refund?"},
        )
        assert called.status_code == 201, called.text
        await publish_article(
            supervisor,
            title=ARTICLE_TITLE,
            body=ARTICLE_BODY,
            phrasings=["where is my refund", "my refund"],
            probe="refund",
        )
        yield number
    finally:
        await supervisor.close()


async def test_payloads_in_names_subjects_messages_and_articles_render_as_text(
    browser: Browser, server: HelpdeskServer, hostile_ticket: int
) -> None:
    async with browser_page(browser, server) as alice:
        page = alice.page
        await sign_in(page, People().alice)
        row = page.locator("li.ticket", has_text="refund")
        await expect(row.locator(".subject")).to_have_text(SUBJECT)
        await expect(row.locator(".customer")).to_have_text(NAME)
        await snap(page, "security-queue")

        await row.locator("a.open").click()
        await expect(page.locator(".ticket-head .subject")).to_have_text(SUBJECT)
        await expect(page.locator("#customer-panel h2")).to_have_text(NAME)
        await expect(page.locator("#messages .body").first).to_have_text(TEXT)
        suggestion = page.locator(".suggestions li").first
        await expect(suggestion.locator(".title")).to_have_text(ARTICLE_TITLE)
        await suggestion.get_by_role("button", name="Insert").click()
        await expect(page.locator("#reply-text")).to_have_value(re.compile("onerror=alert"))
        await snap(page, "security-ticket")
        # Nothing became markup: no script, image or javascript: link came from the payloads.
        assert await page.locator("main script, main img").count() == 0
        assert await page.locator('a[href^="javascript:"]').count() == 0
        await page.wait_for_timeout(300)  # an onerror handler would have fired by now
    assert not alice.dialogs


async def test_a_form_without_the_csrf_token_is_refused(
    browser: Browser, server: HelpdeskServer, hostile_ticket: int
) -> None:
    async with browser_page(browser, server) as alice:
        page = alice.page
        await sign_in(page, People().alice, path=f"/workspace/tickets/{hostile_ticket}")
        token = await page.locator('form.note input[name="csrf_token"]').input_value()
        url = f"/workspace/tickets/{hostile_ticket}/note"
        refused = await page.request.post(url, form={"text": "no token"}, max_redirects=0)
        assert refused.status == 403
        wrong = await page.request.post(
            url, form={"text": "wrong token", "csrf_token": "x" * 40}, max_redirects=0
        )
        assert wrong.status == 403
        # The same form as the page sends it is taken.
        taken = await page.request.post(
            url, form={"text": "with the token", "csrf_token": token}, max_redirects=0
        )
        assert taken.status == 303
        # Signing out is a form too: without the token the session stays.
        assert (await page.request.post("/signout", max_redirects=0)).status == 403
        await page.reload()
        notes = page.locator("#messages li.message.note")
        await expect(notes).to_have_count(1)
        await expect(notes).to_contain_text("with the token")
        # So is the sign-in form: a post without its token is refused before any password check.
        signin = await page.request.post(
            "/signin", form={"email": People().alice, "password": PASSWORD}, max_redirects=0
        )
        assert signin.status == 403


async def test_an_agent_cannot_open_another_teams_ticket_by_url(
    browser: Browser, server: HelpdeskServer, hostile_ticket: int
) -> None:
    async with browser_page(browser, server) as carol:
        page = carol.page
        await sign_in(page, People().carol)
        await expect(page.locator("li.ticket")).to_have_count(0)
        answer = await page.goto(f"/workspace/tickets/{hostile_ticket}")
        assert answer is not None and answer.status == 404
        await expect(page.locator("h1")).to_have_text(f"No ticket #{hostile_ticket}")
        await expect(page.locator("body")).not_to_contain_text("refund")
        await snap(page, "security-other-team")
        fragment = await page.request.get(f"/workspace/tickets/{hostile_ticket}/messages")
        assert fragment.status == 404, (await fragment.text())[:300]


async def test_a_signed_out_user_is_sent_to_sign_in_and_signing_out_ends_the_session(
    browser: Browser, server: HelpdeskServer, hostile_ticket: int
) -> None:
    path = f"/workspace/tickets/{hostile_ticket}"
    async with browser_page(browser, server) as alice:
        page = alice.page
        await page.goto(path)
        await expect(page).to_have_url(
            re.compile(r"/signin\?next=" + re.escape(quote(path, safe="")))
        )
        await snap(page, "signin")
        await page.get_by_label("Email").fill(People().alice)
        await page.get_by_label("Password").fill("not the password")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_have_text("wrong email or password")
        await sign_in(page, People().alice, path=path)
        await live(page)
        (cookie,) = [c for c in await page.context.cookies() if c["name"] == "helpdesk_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

        await page.get_by_role("button", name="Sign out").click()
        await expect(page).to_have_url(re.compile(r"/signin$"))
        await page.goto("/workspace")
        await expect(page).to_have_url(re.compile(r"/signin\?next=%2Fworkspace$"))
        # The old cookie is dead on the server, not only forgotten by the browser.
        old = {"helpdesk_session": cookie["value"]}
        async with httpx.AsyncClient(base_url=server.base_url, cookies=old) as http:
            again = await http.get(path)
            assert again.status_code == 303 and again.headers["location"].startswith("/signin")
            api = await http.get("/api/me")
            assert api.status_code == 401
