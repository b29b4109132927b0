"""The admin pages in headless Chromium against the real server: an admin sees the channels'
state, adds an agent and a team, sets a capacity, disables the agent, adds and removes a
routing rule, reads the SLA policies, and writes an article with a preview (a title and body
carrying script payloads show as text). A supervisor reads the pages but gets no admin forms.
Screenshots go to tests/screenshots/."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Browser, expect

from helpdesk.common.clock import SystemClock
from helpdesk.staff.accounts import add_agent
from helpdesk.staff.models import Role
from helpdesk.storage.database import Database
from tests.conftest import PASSWORD, People, seed_staff
from tests.support.server import HelpdeskServer
from tests.workspace_helpers import browser_page, sign_in, snap

ADMIN = "ada@example.test"
SCRIPT_TITLE = "<script>alert('title')</script> Refunds"
SCRIPT_BODY = (
    "Refunds take **five days**.\n\n<img src=x onerror=alert('body')>\n\n[x](javascript:alert(1))"
)


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[HelpdeskServer]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    await seed_staff(database_url)
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            await add_agent(
                session,
                email=ADMIN,
                name="Ada Admin",
                password=PASSWORD,
                now=SystemClock().now(),
                role=Role.ADMIN,
            )
    finally:
        await db.dispose()
    process = HelpdeskServer(tmp_path / "server", database_url, HELPDESK_KB__BOT_ENABLED="false")
    started = await asyncio.to_thread(process.start)
    yield started
    await asyncio.to_thread(started.stop)


async def test_an_admin_manages_agents_rules_and_articles(
    browser: Browser, server: HelpdeskServer
) -> None:
    async with browser_page(browser, server) as admin:
        page = admin.page
        await sign_in(page, ADMIN, path="/workspace/admin")
        await expect(page.get_by_role("heading", name="Outbox")).to_be_visible()
        await expect(page.get_by_text("No bot token is configured")).to_be_visible()
        await expect(page.get_by_text("Nothing is in quarantine.")).to_be_visible()
        await snap(page, "admin-channels")

        # Agents and teams: add one in a new team, give Alice a capacity, disable the new one.
        await page.get_by_role("link", name="Agents and teams").click()
        add = page.locator("form[data-api='POST /api/admin/agents']")
        await add.get_by_label("Email").fill("dora@example.test")
        await add.get_by_label("Name").fill("Dora New")
        await add.get_by_label("Password").fill("a long enough password 42")
        await add.get_by_label("Teams").fill("Sales")
        await add.get_by_role("button", name="Add").click()
        dora = page.locator("tr", has_text="dora@example.test")
        await expect(dora).to_be_visible()
        await expect(page.locator("tr", has_text="Sales").last).to_contain_text("Dora New")

        alice = page.locator("tr", has_text=People.alice)
        await alice.get_by_label("Capacity").fill("3")
        # A saved form reloads the page; the typed value is there before the reload too, so
        # wait for the reload itself, or the next click may land on the page being replaced.
        async with page.expect_navigation():
            await alice.get_by_role("button", name="Save").click()
        await expect(
            page.locator("tr", has_text=People.alice).get_by_label("Capacity")
        ).to_have_value("3")
        await (
            page.locator("tr", has_text="dora@example.test")
            .get_by_role("button", name="Disable")
            .click()
        )
        await expect(page.locator("tr", has_text="dora@example.test")).to_contain_text("disabled")
        # A refused change says why, in the form.
        await alice.get_by_label("New password").fill("short")
        await page.evaluate(
            "document.querySelectorAll('[minlength]').forEach(e => e.removeAttribute('minlength'))"
        )
        await page.locator("tr", has_text=People.alice).get_by_role("button", name="Reset").click()
        await expect(
            page.locator("tr", has_text=People.alice).locator("output.result").last
        ).to_contain_text("Not saved")
        await snap(page, "admin-agents")

        # Routing rules: add one for the Billing team, then remove it.
        await page.get_by_role("link", name="Routing rules").click()
        form = page.locator("form[data-api='POST /api/routing/rules']")
        await form.get_by_label("Name").fill("Email to Billing")
        await form.get_by_label("Team").select_option(label="Billing")
        await form.get_by_role("button", name="Add").click()
        rule = page.locator("tr", has_text="Email to Billing")
        await expect(rule).to_contain_text("Billing")
        await snap(page, "admin-routing")
        await rule.get_by_role("button", name="Remove").click()
        await expect(page.locator("tr", has_text="Email to Billing")).to_have_count(0)

        await page.get_by_role("link", name="SLA policies").click()
        await expect(page.get_by_role("heading", name="Policies, first match wins")).to_be_visible()
        await snap(page, "admin-sla")

        # An article with script in its title and body: the preview and the pages show text.
        await page.get_by_role("link", name="Articles").click()
        await page.get_by_role("link", name="New article").click()
        await page.get_by_label("Title").fill(SCRIPT_TITLE)
        await page.get_by_label("Body (Markdown)").fill(SCRIPT_BODY)
        await page.get_by_label("Known phrasings").fill("when is my refund\nrefund time")
        await page.get_by_role("button", name="Preview").click()
        preview = page.locator("#article-preview")
        await expect(preview.locator("strong")).to_have_text("five days")
        assert await preview.locator("img").count() == 0
        assert await preview.locator("a[href^='javascript']").count() == 0
        await page.get_by_role("button", name="Save").click()
        await expect(page).to_have_url(re.compile(r"/workspace/admin/articles/\d+$"))
        await expect(page.get_by_role("heading", level=1)).to_have_text(SCRIPT_TITLE)
        await snap(page, "admin-article")
        await page.get_by_role("link", name="Articles").click()
        await expect(page.get_by_role("link", name=SCRIPT_TITLE)).to_be_visible()

        # Tiers and managers: an account with a value and a manager; the tiers recomputed.
        await page.get_by_role("link", name="Tiers and managers").click()
        new = page.locator("form[data-api='POST /api/accounts']")
        await new.get_by_label("Name").fill("Acme Ltd")
        await new.get_by_label("Value").fill("5000")
        await new.get_by_label("Relationship manager").select_option(label="Carol Agent")
        await new.get_by_role("button", name="Add").click()
        acme = page.locator("tr", has_text="Acme Ltd")
        await expect(acme.get_by_label("Manager of Acme Ltd")).to_have_value(re.compile(r"\d+"))
        await page.get_by_role("button", name="Recompute every tier now").click()
        # The only account with a value brings all of it: a key account.
        await expect(page.locator("tr", has_text="Acme Ltd").locator(".badge")).to_have_text("key")
        await snap(page, "admin-tiers")


async def test_a_supervisor_reads_the_admin_pages_without_admin_forms(
    browser: Browser, server: HelpdeskServer
) -> None:
    async with browser_page(browser, server) as supervisor:
        page = supervisor.page
        await sign_in(page, People.supervisor, path="/workspace/admin/agents")
        await expect(page.get_by_text("changes are for admins")).to_be_visible()
        await expect(page.locator("form[data-api='POST /api/admin/agents']")).to_have_count(0)
        await expect(page.locator("tr", has_text=People.alice)).to_contain_text("Alice Agent")
    async with browser_page(browser, server) as agent:
        await sign_in(agent.page, People.alice)
        answer = await agent.page.goto("/workspace/admin")
        assert answer is not None and answer.status == 403
        await expect(agent.page.get_by_role("link", name="Admin")).to_have_count(0)
