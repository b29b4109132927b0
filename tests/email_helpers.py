"""Shared pieces of the email tests: a runtime wired to a real Dovecot and aiosmtpd."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import func, select

from helpdesk.config import load_settings
from helpdesk.runtime import Runtime
from helpdesk.tickets.models import Message, Ticket
from helpdesk.web.app import create_app
from tests.conftest import PASSWORD
from tests.support.dovecot import Mailbox
from tests.support.smtp import SmtpServer

SUPPORT = "support@example.test"
IMAP_PASSWORD = "imap-secret"
T = TypeVar("T")


def mailbox_settings(dovecot: Mailbox, **extra: Any) -> dict[str, Any]:
    return {
        "name": "support",
        "host": "127.0.0.1",
        "port": dovecot.port,
        "tls": "none",
        "user": dovecot.user,
        "password": dovecot.password,
        "idle_seconds": 60,
        **extra,
    }


def email_settings(
    dovecot: Mailbox,
    smtp: SmtpServer | None,
    *,
    mailbox: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "mailboxes": [mailbox_settings(dovecot, **(mailbox or {}))],
        "smtp": smtp.settings() if smtp else None,
        "from_address": SUPPORT,
        "from_name": "Example Support",
        "reconnect_min_seconds": 0.2,
        "reconnect_max_seconds": 1.0,
        **extra,
    }


def email_env(dovecot: Mailbox, smtp: SmtpServer | None, **extra: Any) -> dict[str, str]:
    """The same settings as environment variables, for `helpdesk serve`."""
    settings = email_settings(dovecot, smtp, **extra)
    return {
        "HELPDESK_EMAIL__MAILBOXES": json.dumps(settings.pop("mailboxes")),
        **({"HELPDESK_EMAIL__SMTP": json.dumps(settings.pop("smtp"))} if smtp else {}),
        **{f"HELPDESK_EMAIL__{k.upper()}": str(v) for k, v in settings.items() if k != "smtp"},
    }


@asynccontextmanager
async def email_runtime(
    database_url: str, data_dir: Path, email: dict[str, Any]
) -> AsyncIterator[Runtime]:
    settings = load_settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        email=email,
        outbox={"backoff_base_seconds": 0.2, "backoff_max_seconds": 1.0, "poll_seconds": 0.2},
    )
    runtime = Runtime(settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@asynccontextmanager
async def api_as(runtime: Runtime, email: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real API over ASGI, logged in as a seeded agent."""
    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://helpdesk.test") as http:
        response = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        response.raise_for_status()
        http.headers["Authorization"] = f"Bearer {response.json()['token']}"
        yield http


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 20.0) -> T:
    """Poll until `check` returns something truthy, as a person refreshing a page would."""
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)


async def message_count(runtime: Runtime, channel: str = "email") -> int:
    async with runtime.db.read() as session:
        return (
            await session.scalar(
                select(func.count()).select_from(Message).where(Message.channel == channel)
            )
            or 0
        )


async def ticket_of(runtime: Runtime, external_id: str) -> Ticket | None:
    async with runtime.db.read() as session:
        return await session.scalar(
            select(Ticket)
            .join(Message, Message.ticket_id == Ticket.id)
            .where(Message.external_id == external_id)
        )
