"""SMTP sessions kept open and shared: a reply reuses a logged-in session instead of paying for
a connection, TLS and login each time, and up to `max_connections` replies go out at once.

A session that failed in any way is closed, never reused; one that the server dropped while it
was idle is noticed on its next use and the mail is sent once more on a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

import aiosmtplib

from helpdesk.channels.email.mail_bytes import Envelope
from helpdesk.channels.email.settings import SmtpSettings


class _Connection(TypedDict):
    """The keyword arguments of aiosmtplib.SMTP that say where and how to connect."""

    hostname: str
    port: int
    use_tls: bool
    start_tls: bool
    timeout: float
    tls_context: ssl.SSLContext
    username: NotRequired[str]
    password: NotRequired[str]


@dataclass(slots=True)
class _Session:
    client: aiosmtplib.SMTP
    sent: int = 0
    last_used: float = field(default_factory=time.monotonic)


class SmtpPool:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._idle: list[_Session] = []
        self._slots = asyncio.Semaphore(settings.max_connections)
        self._options = connection_options(settings)
        self._closing: set[asyncio.Task[None]] = set()

    async def send(self, mail: Envelope) -> None:
        async with self._slots:
            session = self._take()
            reused = session is not None
            if session is None:
                session = await self._open()
            try:
                await _transmit(session, mail)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                await _quit(session)
                if not reused:
                    raise
                # The server closed it while it sat idle: once more on a fresh session.
                session = await self._open()
                await self._send_on(session, mail)
            except BaseException:
                await _quit(session)
                raise
            self._give_back(session)

    async def _send_on(self, session: _Session, mail: Envelope) -> None:
        try:
            await _transmit(session, mail)
        except BaseException:
            await _quit(session)
            raise

    def _later(self, session: _Session) -> None:
        """Close in the background, never waited for (kept referenced until done)."""
        task = asyncio.get_running_loop().create_task(_quit(session))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(session) for session in idle), *self._closing)

    def _take(self) -> _Session | None:
        now = time.monotonic()
        while self._idle:
            session = self._idle.pop()
            if (
                now - session.last_used < self._settings.idle_seconds
                and session.client.is_connected
            ):
                return session
            self._later(session)  # too old to trust
        return None

    async def _open(self) -> _Session:
        client = aiosmtplib.SMTP(**self._options)
        await client.connect()
        return _Session(client)

    def _give_back(self, session: _Session) -> None:
        session.sent += 1
        session.last_used = time.monotonic()
        if session.sent >= self._settings.messages_per_connection:
            self._later(session)
        else:
            self._idle.append(session)


async def _transmit(session: _Session, mail: Envelope) -> None:
    await session.client.sendmail(
        mail.sender,
        mail.recipients,
        mail.data,
        mail_options=["SMTPUTF8"] if mail.utf8 else None,
    )


async def _quit(session: _Session) -> None:
    with contextlib.suppress(Exception):
        if session.client.is_connected:
            await asyncio.wait_for(session.client.quit(), 5)
    session.client.close()


def connection_options(smtp: SmtpSettings) -> _Connection:
    """Where and how aiosmtplib connects, from the settings (replies and staff notices)."""
    context = ssl.create_default_context(cafile=smtp.ca_file)
    if not smtp.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    options: _Connection = {
        "hostname": smtp.host,
        "port": smtp.port,
        "use_tls": smtp.tls == "implicit",
        "start_tls": smtp.tls == "starttls",
        "timeout": smtp.timeout_seconds,
        "tls_context": context,
    }
    if smtp.user:
        options["username"] = smtp.user
        options["password"] = smtp.password.get_secret_value()
    return options
