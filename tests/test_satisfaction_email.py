"""Satisfaction on email: the resolved ticket's customer gets a mail of five signed links; a
click on the real server records the score, the page takes a comment and the recommend answer,
and the links refuse to be used for ever, forged or expired."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest_asyncio
from sqlalchemy import select

from helpdesk.common.clock import FixedClock
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.storage.database import Database
from helpdesk.tickets.models import Ticket
from helpdesk.web.app import create_app
from tests.conftest import PASSWORD, People, seed_staff
from tests.support.clients import AgentClient
from tests.support.server import HelpdeskServer
from tests.support.smtp import SmtpServer

LINK = re.compile(r"(http://\S+/satisfaction/[\w.\-]+\?score=([1-5]))")


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = await SmtpServer().start()
    yield server
    await server.stop()


async def _ticket(database_url: str, number: int) -> Ticket:
    db = Database(database_url)
    try:
        async with db.read() as session:
            ticket = await session.scalar(select(Ticket).where(Ticket.id == number))
            assert ticket is not None
            return ticket
    finally:
        await db.dispose()


async def test_a_click_in_the_survey_mail_records_the_score_on_the_real_server(
    database_url: str, tmp_path: Path, smtp: SmtpServer
):
    await seed_staff(database_url)
    server = HelpdeskServer(
        tmp_path / "server",
        database_url,
        HELPDESK_EMAIL__SMTP=json.dumps(smtp.settings()),
        HELPDESK_EMAIL__FROM_ADDRESS="support@example.test",
        HELPDESK_CONVERSATION__RECOMMEND_QUESTION="true",
    ).start()
    agent = await AgentClient(server.base_url).login(People().alice, PASSWORD)
    try:
        opened = await agent.http.post(
            "/api/tickets",
            json={
                "customer": {"email": "jane@customer.test", "name": "Jane"},
                "subject": "Your router",
                "message": {
                    "channel": "email",
                    "text": "Your new router ships today.",
                    "customer_asked": True,
                },
            },
        )
        assert opened.status_code == 201, opened.text
        number = opened.json()["ticket"]["number"]
        await smtp.wait_for(1)
        assert (await agent.change(number, status="resolved")).status_code == 200

        [_, survey] = await smtp.wait_for(2)
        assert survey.recipients == ["jane@customer.test"]
        plain = survey.message.get_body(("plain",)).get_content()
        html = survey.message.get_body(("html",)).get_content()
        links = LINK.findall(plain)
        assert [score for _, score in links] == ["1", "2", "3", "4", "5"]
        # The HTML part carries the same five links, as buttons.
        assert [url.replace("&amp;", "&") for url in re.findall(r'href="([^"]+)"', html)] == [
            url for url, _ in links
        ]

        async with httpx.AsyncClient(timeout=10) as customer:
            page = await customer.get(links[3][0])
            assert page.status_code == 200
            assert "4 out of 5" in page.text
            token = re.search(r'name="token" value="([^"]+)"', page.text)
            assert token is not None
            assert (await agent.ticket(number)).json()["satisfaction"] == 4

            # The page's comment form and the recommend question post the signed token.
            form = {"token": token.group(1)}
            commented = await customer.post(
                f"{server.base_url}/satisfaction", data={**form, "comment": "Quick & kind <3"}
            )
            assert commented.status_code == 200
            assert "Quick &amp; kind &lt;3" in commented.text
            recommended = await customer.post(
                f"{server.base_url}/satisfaction", data={**form, "recommend": "9"}
            )
            assert "9 out of 10" in recommended.text

        shown = (await agent.ticket(number)).json()
        assert (shown["recommend_score"], shown["satisfaction_comment"]) == (9, "Quick & kind <3")
        stored = await _ticket(database_url, number)
        assert (stored.satisfaction, stored.recommend_score) == (4, 9)
        assert stored.satisfaction_comment == "Quick & kind <3"
    finally:
        await agent.close()
        server.stop()


@pytest_asyncio.fixture
async def page(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://helpdesk.test") as http:
        yield http


async def _email_ticket(runtime: Runtime) -> tuple[int, str]:
    receipt = await runtime.intake.receive(
        InboundMessage(
            channel="email", external_id="<q@customer.test>", sender="q@customer.test", text="Hi"
        )
    )
    token = runtime.survey_links.token(
        receipt.ticket_id, receipt.customer_id, now=runtime.clock.now()
    )
    return receipt.ticket_id, token


async def test_once_rated_the_link_only_thanks_after_the_change_window(
    runtime: Runtime, clock: FixedClock, page: httpx.AsyncClient
):
    number, token = await _email_ticket(runtime)
    first = await page.get(f"/satisfaction/{token}", params={"score": "2"})
    assert "2 out of 5" in first.text and "Changed your mind?" in first.text
    # Within the window a change of mind is kept.
    clock.advance(timedelta(minutes=10))
    changed = await page.get(f"/satisfaction/{token}", params={"score": "3"})
    assert "3 out of 5" in changed.text
    # The window counts from the first rating: 31 minutes later nothing changes.
    clock.advance(timedelta(minutes=21))
    late = await page.get(f"/satisfaction/{token}", params={"score": "5"})
    assert late.status_code == 200
    assert "Already rated, thank you" in late.text and "3 out of 5" in late.text
    late_comment = await page.post("/satisfaction", data={"token": token, "comment": "late"})
    assert "Already rated, thank you" in late_comment.text
    async with runtime.db.read() as session:
        ticket = await session.get(Ticket, number)
        assert ticket is not None
        assert (ticket.satisfaction, ticket.satisfaction_comment) == (3, None)


async def test_forged_expired_and_wrong_links_get_a_clear_page(
    runtime: Runtime, clock: FixedClock, page: httpx.AsyncClient
):
    number, token = await _email_ticket(runtime)
    forged = await page.get(f"/satisfaction/{token[:-3]}abc", params={"score": "5"})
    assert forged.status_code == 400 and "This link is not valid" in forged.text
    other_key = runtime.survey_links.__class__(
        "another-secret-key-that-is-long-enough-000000", "http://x", 14
    ).token(number, 1, now=clock.now())
    assert (await page.get(f"/satisfaction/{other_key}?score=5")).status_code == 400
    wrong = await page.get(f"/satisfaction/{token}", params={"score": "9"})
    assert wrong.status_code == 400 and "from 1 to 5" in wrong.text
    not_a_form = await page.post("/satisfaction", json={"token": token, "score": 5})
    assert not_a_form.status_code == 400

    clock.advance(timedelta(days=14, minutes=1))
    expired = await page.get(f"/satisfaction/{token}", params={"score": "5"})
    assert expired.status_code == 410 and "This link has expired" in expired.text
    async with runtime.db.read() as session:
        ticket = await session.get(Ticket, number)
        assert ticket is not None and ticket.satisfaction is None
