"""The supervisor dashboard in headless Chromium against the real server: a complaint made in
the widget breaches its SLA, the escalation appears on the open dashboard without a reload, and
the supervisor acknowledges it there. Agents are refused the dashboard; acknowledging needs the
form's CSRF token. Screenshots go to tests/screenshots/."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio
from playwright.async_api import Browser, expect

from tests.conftest import PASSWORD, People
from tests.support.browser import ChatWidget
from tests.support.clients import AgentClient
from tests.support.server import HelpdeskServer
from tests.workspace_helpers import (
    FAST_COMPLAINT_POLICIES,
    browser_page,
    live,
    sign_in,
    snap,
    start_server,
)


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[HelpdeskServer]:
    started = await start_server(
        tmp_path, HELPDESK_SLA__POLICIES=json.dumps(FAST_COMPLAINT_POLICIES)
    )
    yield started
    await asyncio.to_thread(started.stop)


async def test_a_breached_complaint_is_acknowledged_on_the_live_dashboard(
    browser: Browser, server: HelpdeskServer
) -> None:
    people = People()
    async with (
        browser_page(browser, server) as supervisor,
        browser_page(browser, server) as customer,
    ):
        await sign_in(supervisor.page, people.supervisor, path="/workspace/dashboard")
        await live(supervisor.page)
        await expect(supervisor.page.locator("#no-escalations")).to_be_visible()
        await snap(supervisor.page, "dashboard-quiet")

        widget = ChatWidget(customer.page)
        await customer.page.goto("/chat")
        await widget.open()
        await expect(widget.state).to_have_text("online")
        await customer.page.get_by_test_id("chat-complaint").click()
        await expect(widget.message("I want to complain")).to_be_visible()

        # Three seconds later the complaint's first response is overdue: the breach arrives on
        # the open page through the live feed (no reload).
        escalation = supervisor.page.locator("li.escalation.level-breach")
        await expect(escalation).to_be_visible(timeout=20_000)
        await expect(escalation).to_contain_text("first response target")
        await snap(supervisor.page, "dashboard-escalation")

        await escalation.get_by_role("button", name="Acknowledge").click()
        await expect(supervisor.page.locator("li.escalation.level-breach")).to_have_count(0)
        sam = await AgentClient(server.base_url).login(people.supervisor, PASSWORD)
        try:
            still_open = (await sam.http.get("/api/escalations", params={"open": "true"})).json()
            assert [e for e in still_open if e["level"] == "breach"] == []
        finally:
            await sam.close()

        # The figures after a reload: the breach counts, the charts are drawn on the server.
        await supervisor.page.reload()
        await expect(supervisor.page.locator("#breach-rate")).to_have_text("100%")
        await expect(supervisor.page.locator("figure.chart svg").first).to_be_visible()
        await expect(supervisor.page.get_by_text("Complaints by root cause")).to_be_visible()
        await snap(supervisor.page, "dashboard-figures")


async def test_agents_are_refused_and_forms_need_the_csrf_token(
    browser: Browser, server: HelpdeskServer
) -> None:
    people = People()
    async with browser_page(browser, server) as agent:
        await sign_in(agent.page, people.alice)
        answer = await agent.page.goto("/workspace/dashboard")
        assert answer is not None and answer.status == 403
        await expect(agent.page.get_by_role("heading", name="Supervisors only")).to_be_visible()
        await expect(agent.page.get_by_role("link", name="Dashboard")).to_have_count(0)

    async with httpx.AsyncClient(base_url=server.base_url) as http:
        signed_out = await http.get("/workspace/dashboard")
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/signin?next=")
        login = await http.post(
            "/api/auth/login", json={"email": people.supervisor, "password": PASSWORD}
        )
        assert login.status_code == 200
        # The session cookie alone (no CSRF token in the form) acknowledges nothing.
        forged = await http.post("/workspace/escalations/1/acknowledge", data={})
        assert forged.status_code == 403
