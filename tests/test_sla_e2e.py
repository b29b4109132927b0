"""End to end through the real server and the real widget in Chromium: a customer taps the
complaint button, the ticket becomes a complaint with its timer, the timer breaches, the
supervisor finds the escalation and acknowledges it, and the complaint cannot be resolved
without a root cause."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from playwright.async_api import Browser, expect

from tests.conftest import PASSWORD, People
from tests.support.browser import ChatWidget
from tests.support.clients import AgentClient
from tests.support.server import HelpdeskServer
from tests.workspace_helpers import FAST_COMPLAINT_POLICIES, start_server


@pytest_asyncio.fixture
async def fast_server(tmp_path: Path) -> AsyncIterator[HelpdeskServer]:
    # The answer bot on, as a customer meets it: the complaint button goes past it.
    process = await start_server(
        tmp_path,
        HELPDESK_SLA__POLICIES=json.dumps(FAST_COMPLAINT_POLICIES),
        HELPDESK_KB__BOT_ENABLED="true",
    )
    yield process
    await asyncio.to_thread(process.stop)


async def until(probe: Any, timeout: float = 15.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            found = await probe()
            if found:
                return found
            await asyncio.sleep(0.1)


async def test_complaint_button_to_acknowledged_breach(
    browser: Browser, fast_server: HelpdeskServer
):
    context = await browser.new_context(base_url=fast_server.base_url)
    page = await context.new_page()
    sam = await AgentClient(fast_server.base_url).login(People.supervisor, PASSWORD)
    alice = await AgentClient(fast_server.base_url).login(People.alice, PASSWORD)
    try:
        widget = ChatWidget(page)
        await page.goto("/chat")
        await widget.open()
        await expect(widget.state).to_have_text("online")
        await page.get_by_test_id("chat-complaint").click()
        await expect(widget.message("I want to complain")).to_be_visible()

        async def complaint() -> dict[str, Any] | None:
            queue = await sam.queue()
            return next((t for t in queue["tickets"] if t["kind"] == "complaint"), None)

        ticket = await until(complaint)
        number = ticket["number"]
        assert ticket["priority"] == "high"

        async def first_response() -> dict[str, Any] | None:
            # Started under the ticket's first policy, then recomputed once it is a complaint.
            timers = (await sam.http.get(f"/api/tickets/{number}/sla")).json()
            return next(
                (
                    t
                    for t in timers
                    if t["metric"] == "first_response" and t["policy"] == "complaint"
                ),
                None,
            )

        timer = await until(first_response)
        assert timer["status"] == "running" and timer["target_seconds"] == 3

        async def breach() -> dict[str, Any] | None:
            response = await sam.http.get("/api/escalations", params={"ticket": number})
            return next((e for e in response.json() if e["level"] == "breach"), None)

        escalation = await until(breach)
        assert "first response target" in escalation["reason"]
        assert escalation["acknowledged_at"] is None
        open_ones = (await sam.http.get("/api/escalations", params={"open": "true"})).json()
        assert escalation["id"] in [e["id"] for e in open_ones]

        path = f"/api/escalations/{escalation['id']}/acknowledge"
        assert (await alice.http.post(path)).status_code == 403  # supervisors acknowledge
        acknowledged = await sam.http.post(path)
        assert acknowledged.status_code == 200
        assert acknowledged.json()["acknowledged_at"] is not None
        assert (await sam.http.post(path)).status_code == 409
        open_ones = (await sam.http.get("/api/escalations", params={"open": "true"})).json()
        assert escalation["id"] not in [e["id"] for e in open_ones]

        refused = await sam.change(number, status="resolved", remedy="Refunded")
        assert refused.status_code == 409
        assert "root cause" in refused.json()["detail"]
        causes = (await sam.http.get("/api/complaints/causes")).json()
        resolved = await sam.change(
            number, status="resolved", remedy="Refunded the double charge", root_cause=causes[1]
        )
        assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    finally:
        await sam.close()
        await alice.close()
        await context.close()
