"""What the workspace's browser tests share: a server, signed-in agent pages, screenshots at
desktop and phone width (under tests/screenshots/, ignored by git), uncaught-error checks."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Dialog, Error, Page, expect

from tests.conftest import PASSWORD, seed_staff
from tests.support.clients import AgentClient
from tests.support.server import HelpdeskServer

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

expect.set_options(timeout=10_000)


# Complaints owe a first response within 3 seconds here; everything else a day. Passed as
# `HELPDESK_SLA__POLICIES` (JSON) to watch a complaint breach within a test.
FAST_COMPLAINT_POLICIES = [
    {
        "name": "complaint",
        "kinds": ["complaint"],
        "first_response_hours": 3 / 3600,
        "next_response_hours": 8,
        "resolution_hours": 72,
    },
    {
        "name": "standard",
        "first_response_hours": 24,
        "next_response_hours": 24,
        "resolution_hours": 120,
    },
]


async def start_server(tmp_path: Path, **env: str) -> HelpdeskServer:
    """`helpdesk serve` on SQLite with the staff seeded; the answer bot off unless `env` says
    otherwise, so a chat goes to the agents at once (the knowledge base still suggests articles
    to them). `env`: more settings as environment variables."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    await seed_staff(database_url)
    settings = {"HELPDESK_KB__BOT_ENABLED": "false", **env}
    server = HelpdeskServer(tmp_path / "server", database_url, **settings)
    return await asyncio.to_thread(server.start)


async def publish_article(
    supervisor: AgentClient, *, title: str, body: str, phrasings: list[str], probe: str
) -> None:
    """Publish an article and wait until the index suggests it for `probe`."""
    answer = await supervisor.http.post(
        "/api/kb/articles",
        json={"title": title, "body": body, "phrasings": phrasings, "status": "published"},
    )
    assert answer.status_code == 201, answer.text

    async def indexed() -> bool:
        found = await supervisor.http.get("/api/kb/suggestions", params={"text": probe})
        return bool(found.json())

    await eventually(indexed, timeout=15)


class Watched:
    """A page with its uncaught errors and any dialog (an alert would mean a script ran)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self._dismissing: set[asyncio.Future[None]] = set()
        page.on("pageerror", lambda error: self.errors.append(f"{error.name}: {error.message}"))
        page.on("dialog", self._on_dialog)

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dismissing = asyncio.ensure_future(dialog.dismiss())
        self._dismissing.add(dismissing)
        dismissing.add_done_callback(self._dismissing.discard)

    def check(self) -> None:
        assert not self.errors, f"uncaught errors in the page: {self.errors}"
        assert not self.dialogs, f"a dialog opened (a script ran): {self.dialogs}"


@asynccontextmanager
async def browser_page(browser: Browser, server: HelpdeskServer) -> AsyncIterator[Watched]:
    context: BrowserContext = await browser.new_context(base_url=server.base_url, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    watched = Watched(await context.new_page())
    try:
        yield watched
    finally:
        await context.close()
    watched.check()


async def sign_in(page: Page, email: str, *, path: str = "/workspace") -> None:
    """Open `path` signed out, get sent to the sign-in form, sign in, land on `path`."""
    await page.goto(path)
    await expect(page).to_have_url(re.compile(r"/signin\?next="))
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(re.escape(path) + "$"))


async def live(page: Page) -> None:
    """The page's live feed is connected."""
    await expect(page.locator("body")).to_have_attribute("data-live", "on")


async def snap(page: Page, name: str, *, fits_phone: bool = True) -> None:
    """The page as it is, at desktop and at phone width. A workspace page must fit the phone's
    width (`fits_phone`); the customer's demo chat page is not the workspace's to fix."""
    SCREENSHOTS.mkdir(exist_ok=True)
    safe = re.sub(r"[^\w.-]+", "_", name)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        try:
            await page.screenshot(path=SCREENSHOTS / f"{safe}-{label}.png", full_page=True)
        except Error as exc:  # a navigation under way; the next screenshot tries again
            raise AssertionError(f"screenshot {name} failed: {exc.message}") from exc
        # Usable at phone width: nothing sticks out sideways.
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert not fits_phone or wide <= size["width"] + 1, (
            f"{name} is {wide} px wide at {label} width"
        )
    await page.set_viewport_size(DESKTOP)


async def eventually(probe: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.05)
