"""The real widget in headless Chromium against the real server, as a customer would use it."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    WebSocket,
    expect,
)

from tests.conftest import PASSWORD, People, seed_staff
from tests.support.browser import ChatWidget, OtherSite
from tests.support.clients import AgentClient
from tests.support.server import HelpdeskServer

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# The widget backs off 1, 2, 4, 8 ... s between attempts; after a restart it is back within 8 s.
RECONNECT_TIMEOUT_MS = 25_000
T = TypeVar("T")

expect.set_options(timeout=10_000)


@pytest_asyncio.fixture
async def sqlite_server(tmp_path: Path) -> AsyncIterator[HelpdeskServer]:
    """`helpdesk serve` on SQLite only, with the staff seeded: the browser does not care which
    database is behind it (conftest's `server` would run every test once per database)."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    await seed_staff(database_url)
    process = await asyncio.to_thread(HelpdeskServer(tmp_path / "server", database_url).start)
    yield process
    await asyncio.to_thread(process.stop)


@pytest_asyncio.fixture
async def page(
    browser: Browser, sqlite_server: HelpdeskServer, request: pytest.FixtureRequest
) -> AsyncIterator[Page]:
    """A fresh browser context on the server. If the test fails, a screenshot and the page's
    console go to test-artifacts/. Uncaught errors in the page fail the test."""
    context = await browser.new_context(base_url=sqlite_server.base_url)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    console: list[str] = []
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        console.append(f"{message.type}: {message.text}")

    def on_error(error: Error) -> None:
        errors.append(f"{error.name}: {error.message}")
        console.append(f"pageerror: {error.stack or error.message}")

    page.on("console", on_console)
    page.on("pageerror", on_error)
    failures_before = request.session.testsfailed
    yield page
    # A failed phase (setup or call) is counted before the fixtures are torn down.
    if request.session.testsfailed > failures_before:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::")[-1])
        try:
            await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
        except Error as exc:
            console.append(f"(screenshot failed: {exc.message})")
        (ARTIFACTS / f"{name}.console.txt").write_text("\n".join(console) + "\n")
    await context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def widget(page: Page) -> ChatWidget:
    return ChatWidget(page)


@pytest_asyncio.fixture
async def alice(sqlite_server: HelpdeskServer) -> AsyncIterator[AgentClient]:
    agent = await AgentClient(sqlite_server.base_url).login(People().alice, PASSWORD)
    yield agent
    await agent.close()


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = 10.0
) -> T:
    """Poll `probe` until `done` holds for its result, which is returned (or the last one)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if done(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


async def ticket_with_subject(agent: AgentClient, subject: str) -> int:
    queue = await agent.queue(view="unassigned", status="new")
    numbers = [t["number"] for t in queue["tickets"] if t["subject"] == subject]
    assert len(numbers) == 1, f"expected one new ticket {subject!r}, the queue has {queue}"
    return numbers[0]


async def messages_of(agent: AgentClient, number: int) -> list[dict[str, Any]]:
    response = await agent.ticket(number)
    assert response.status_code == 200, response.text
    return response.json()["messages"]


async def open_chat(page: Page, widget: ChatWidget) -> None:
    await page.goto("/chat")
    await widget.open()
    await expect(widget.state).to_have_text("online")


async def test_customer_and_agent_talk_through_the_widget(
    page: Page, widget: ChatWidget, alice: AgentClient
) -> None:
    await open_chat(page, widget)
    await expect(widget.messages).to_have_count(0)
    question = "My card was declined at the shop"
    await widget.expect_sent(await widget.send(question))

    number = await ticket_with_subject(alice, question)
    typing = await alice.http.post(f"/api/tickets/{number}/typing")
    assert typing.status_code == 204
    await expect(widget.typing).to_have_text("Alice Agent is typing…")

    answer = "Sorry about that! Let me check your card."
    assert (await alice.reply(number, answer)).status_code == 200
    await widget.expect_transcript(("", question), ("Alice Agent", answer))
    await expect(widget.typing).to_have_text("")  # the reply replaces the typing notice

    # The widget tells the server it showed the reply; the agent sees it as delivered.
    detail = await eventually(
        lambda: messages_of(alice, number), lambda m: m[-1]["delivery_state"] == "delivered"
    )
    assert [(m["direction"], m["text"], m["delivery_state"]) for m in detail][-1] == (
        "out",
        answer,
        "delivered",
    )


async def test_history_survives_a_reload(
    page: Page, widget: ChatWidget, alice: AgentClient
) -> None:
    await open_chat(page, widget)
    question = "Where is my parcel?"
    await widget.expect_sent(await widget.send(question, with_enter=True))
    number = await ticket_with_subject(alice, question)
    assert (await alice.reply(number, "It ships tomorrow.")).status_code == 200
    await widget.expect_transcript(("", question), ("Alice Agent", "It ships tomorrow."))

    await page.reload()
    await widget.open()
    await expect(widget.state).to_have_text("online")
    await widget.expect_transcript(("", question), ("Alice Agent", "It ships tomorrow."))

    # The same conversation goes on after the reload: the next message joins the same ticket.
    await widget.expect_sent(await widget.send("Thanks!"))
    await widget.expect_transcript(
        ("", question), ("Alice Agent", "It ships tomorrow."), ("", "Thanks!")
    )
    assert [m["text"] for m in await messages_of(alice, number)] == [
        question,
        "It ships tomorrow.",
        "Thanks!",
    ]


async def test_messages_written_offline_are_sent_once_the_server_is_back(
    page: Page, widget: ChatWidget, sqlite_server: HelpdeskServer
) -> None:
    await open_chat(page, widget)
    await widget.expect_sent(await widget.send("Before the outage"))

    await asyncio.to_thread(sqlite_server.kill)
    await expect(widget.state).to_have_text("offline, reconnecting…")
    first = await widget.send("First while offline", with_enter=True)
    second = await widget.send("Second while offline")
    await widget.expect_pending(first)
    await widget.expect_pending(second)
    assert len(await widget.unsent()) == 2

    # The same server comes back: same port, data dir and database.
    restarted = HelpdeskServer(
        sqlite_server.data_dir, sqlite_server.database_url, port=sqlite_server.port
    )
    await asyncio.to_thread(restarted.start)
    try:
        await expect(widget.state).to_have_text("online", timeout=RECONNECT_TIMEOUT_MS)
        await widget.expect_sent(first)
        await widget.expect_sent(second)
        assert await widget.unsent() == []
        await widget.expect_transcript(
            ("", "Before the outage"), ("", "First while offline"), ("", "Second while offline")
        )

        agent = await AgentClient(restarted.base_url).login(People().alice, PASSWORD)
        try:
            number = await ticket_with_subject(agent, "Before the outage")
            stored = [(m["direction"], m["text"]) for m in await messages_of(agent, number)]
            assert stored == [
                ("in", "Before the outage"),
                ("in", "First while offline"),
                ("in", "Second while offline"),
            ]
            queue = await agent.queue()
            assert [t["number"] for t in queue["tickets"]] == [number]
        finally:
            await agent.close()

        # Nothing is shown twice after a reload either.
        await page.reload()
        await widget.open()
        await expect(widget.state).to_have_text("online")
        await widget.expect_transcript(
            ("", "Before the outage"), ("", "First while offline"), ("", "Second while offline")
        )
    finally:
        await asyncio.to_thread(restarted.stop)


async def test_markup_in_a_reply_is_shown_as_text_and_never_runs(
    page: Page, widget: ChatWidget, alice: AgentClient, sqlite_server: HelpdeskServer
) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    await open_chat(page, widget)
    await widget.expect_sent(await widget.send("Can you show me <b>bold</b>?"))
    number = await ticket_with_subject(alice, "Can you show me <b>bold</b>?")

    image = '<img src=x onerror="window.__pwned=1">'
    script = "<script>window.__pwned=1</script>"
    for text in (image, script):
        assert (await alice.reply(number, text)).status_code == 200
    transcript = [
        ("", "Can you show me <b>bold</b>?"),
        ("Alice Agent", image),
        ("Alice Agent", script),
    ]
    await widget.expect_transcript(*transcript)

    async def nothing_ran() -> None:
        # A control image that fails to load proves that such errors have had time to fire.
        # A promise, not `wait_for_function`: polling a string predicate is an eval, which the
        # page's Content-Security-Policy refuses whenever the first look is too early.
        await page.evaluate(
            """() => new Promise((resolve) => { const img = new Image();
                       img.onerror = () => resolve(true);
                       img.src = '/missing-control.png'; })"""
        )
        assert await page.evaluate("typeof window.__pwned") == "undefined"
        await expect(widget.host.locator("img, script, b")).to_have_count(0)
        assert f"{sqlite_server.base_url}/x" not in requests

    await nothing_ran()
    # The history (after a reload) takes another path into the page: the same holds there.
    await page.reload()
    await widget.open()
    await widget.expect_transcript(*transcript)
    await nothing_ran()


async def test_the_widget_works_in_the_head_of_another_site(
    page: Page, widget: ChatWidget, tmp_path: Path
) -> None:
    """Where sites usually paste a snippet: in <head>, on their own origin. The script then runs
    before <body> exists. The site is one the operator allowed (`webchat.allowed_origins`)."""
    site = await asyncio.to_thread(OtherSite().start)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shop-helpdesk.db'}"
    await seed_staff(database_url)
    server = HelpdeskServer(
        tmp_path / "shop-server",
        database_url,
        HELPDESK_WEBCHAT__ALLOWED_ORIGINS=f'["{site.base_url}"]',
    )
    await asyncio.to_thread(server.start)
    alice = await AgentClient(server.base_url).login(People().alice, PASSWORD)
    try:
        site.pages["/"] = (
            "<!doctype html><html><head><title>Example shop</title>"
            f'<script src="{server.base_url}/widget.js"></script>'
            "</head><body><h1>Example shop</h1></body></html>"
        )
        await page.goto(site.base_url)
        await expect(page.get_by_role("heading", name="Example shop")).to_be_visible()
        await widget.open()
        await expect(widget.state).to_have_text("online")
        await widget.expect_sent(await widget.send("Do you ship abroad?"))
        number = await ticket_with_subject(alice, "Do you ship abroad?")
        assert (await alice.reply(number, "We do.")).status_code == 200
        await widget.expect_transcript(("", "Do you ship abroad?"), ("Alice Agent", "We do."))
    finally:
        await alice.close()
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(site.stop)


def _sqlite_execute(database_url: str, statement: str) -> None:
    with sqlite3.connect(database_url.split(":///", 1)[1]) as db:
        db.execute(statement)


async def test_a_message_the_server_could_not_store_is_sent_again(
    page: Page, widget: ChatWidget, alice: AgentClient, sqlite_server: HelpdeskServer
) -> None:
    """The server stays up but its database fails for a moment: it answers `unavailable` ("not
    stored; send it again") and the widget must send the message again on the same socket."""
    sockets: list[WebSocket] = []
    refused = asyncio.Event()

    def on_frame(payload: str | bytes) -> None:
        frame = json.loads(payload)
        if frame.get("type") == "error" and frame.get("code") == "unavailable":
            refused.set()

    def on_socket(socket: WebSocket) -> None:
        sockets.append(socket)
        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    await open_chat(page, widget)
    await widget.expect_sent(await widget.send("Before the hiccup"))
    number = await ticket_with_subject(alice, "Before the hiccup")

    url = sqlite_server.database_url
    await asyncio.to_thread(_sqlite_execute, url, "ALTER TABLE messages RENAME TO messages_away")
    try:
        bubble = await widget.send("During the hiccup")
        await asyncio.wait_for(refused.wait(), 15)
        await widget.expect_pending(bubble)
    finally:
        await asyncio.to_thread(
            _sqlite_execute, url, "ALTER TABLE messages_away RENAME TO messages"
        )

    await widget.expect_sent(bubble, timeout=15_000)
    await expect(widget.state).to_have_text("online")
    assert len(sockets) == 1, "the message went again on the same socket, not by reconnecting"
    assert [m["text"] for m in await messages_of(alice, number)] == [
        "Before the hiccup",
        "During the hiccup",
    ]
