"""Headless Chromium (the system's, never a downloaded one), the chat widget as a customer sees
it, and another web site to embed it in."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.async_api import Browser, Locator, Page, Playwright, expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
INSTALL_HINT = (
    "apt-get install -y --no-install-recommends chromium && pip install playwright "
    "(never `playwright install`: the system Chromium is used)"
)


def chromium_path() -> str:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: {INSTALL_HINT}")
    return str(CHROMIUM)


async def launch_chromium(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


class OtherSite:
    """A company's web site on its own origin (another port on 127.0.0.1), serving `pages`
    (path -> HTML) that embed the widget from the helpdesk's origin."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path)
                self.send_response(404 if body is None else 200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> OtherSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(^|\s){re.escape(name)}(\s|$)")


class ChatWidget:
    """The embedded widget. Its panel lives in an open shadow root; Playwright's locators
    (test ids included) pierce it, so these find what the customer sees."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.host = page.locator("div[data-helpdesk-widget]")
        self.open_button = page.get_by_test_id("chat-open")
        self.state = page.get_by_test_id("chat-state")
        self.log = page.get_by_test_id("chat-log")
        self.messages = page.get_by_test_id("chat-message")
        self.input = page.get_by_test_id("chat-input")
        self.send_button = page.get_by_test_id("chat-send")
        self.typing = page.get_by_test_id("chat-typing")

    async def open(self) -> None:
        """Click the chat button; the panel (and its text box) appears."""
        await self.open_button.click()
        await expect(self.input).to_be_visible()

    async def send(self, text: str, *, with_enter: bool = False) -> Locator:
        """Type `text` key by key (as a person would, so the widget sees the keystrokes) and
        send it with the Send button or the Enter key. Returns the message's bubble."""
        await self.input.press_sequentially(text)
        if with_enter:
            await self.input.press("Enter")
        else:
            await self.send_button.click()
        await expect(self.input).to_have_value("")
        bubble = self.message(text)
        await expect(bubble).to_be_visible()
        return bubble

    def message(self, text: str) -> Locator:
        return self.messages.filter(has_text=text)

    async def expect_sent(self, bubble: Locator, timeout: float | None = None) -> None:
        """The server acknowledged the message: the bubble is no longer greyed out."""
        await expect(bubble).not_to_have_class(_word("pending"), timeout=timeout)
        await expect(bubble).not_to_have_class(_word("failed"))

    async def expect_pending(self, bubble: Locator) -> None:
        await expect(bubble).to_have_class(_word("pending"))

    async def expect_transcript(self, *entries: tuple[str, str]) -> None:
        """The chat shows exactly these messages, in order, each as (author shown, text); the
        customer's own messages show no author."""
        await expect(self.messages).to_have_count(len(entries))
        for index, (who, text) in enumerate(entries):
            bubble = self.messages.nth(index)
            await expect(bubble.locator(".who")).to_have_text(who)
            await expect(bubble).to_have_text(who + text)
            await expect(bubble).to_have_class(_word("agent" if who else "customer"))

    async def unsent(self) -> list[object]:
        """What the widget still keeps to resend (its localStorage queue)."""
        return await self.page.evaluate(
            """() => {
                const key = Object.keys(localStorage).find(k => k.endsWith(":pending"));
                return key ? JSON.parse(localStorage.getItem(key)) : [];
            }"""
        )
