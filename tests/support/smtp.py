"""An aiosmtpd SMTP server on the test's own event loop that records what it receives, and can
go away and come back on the same port (an outage)."""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.postgres import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


class _Recorder:
    def __init__(self, box: list[Received]) -> None:
        self.box = box

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.box.append(
            Received(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], parsed)
        )
        return "250 OK"


@dataclass
class SmtpServer:
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def start(self) -> SmtpServer:
        loop = asyncio.get_running_loop()
        handler = _Recorder(self.received)
        self._server = await loop.create_server(
            lambda: SMTP(handler, hostname="smtp.test"), "127.0.0.1", self.port
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "tls": "none", **extra}

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                await asyncio.sleep(0.02)
        return self.received
