"""An aiosmtpd SMTP server on the test's own event loop that records what it receives, and can
go away and come back on the same port (an outage)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import subprocess
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

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


def self_signed_context(folder: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    names = "subjectAltName=DNS:localhost,IP:127.0.0.1"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30"),
            *("-subj", "/CN=localhost", "-addext", names, "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@dataclass
class SmtpServer:
    """`tls`: "none", "starttls" (required before MAIL) or "implicit"; `login`: required
    (user, password), checked by AUTH PLAIN/LOGIN."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    tls: str = "none"
    tls_context: ssl.SSLContext | None = None
    login: tuple[str, str] | None = None
    refused_logins: int = 0
    _server: asyncio.Server | None = None

    def _authenticate(self, _server, _session, _envelope, mechanism, data) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.login is not None
            and (data.login.decode(), data.password.decode()) == self.login
        )
        self.refused_logins += not ok
        # handled=False: aiosmtpd answers a failure itself (handled=True would hang the client).
        return AuthResult(success=ok, handled=False)

    def _protocol(self, handler: _Recorder) -> SMTP:
        options: dict[str, Any] = {"hostname": "smtp.test"}
        if self.tls == "starttls":
            options |= {"tls_context": self.tls_context, "require_starttls": True}
        if self.login is not None:
            options |= {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": self.tls == "starttls",
            }
        return SMTP(handler, **options)

    async def start(self) -> SmtpServer:
        loop = asyncio.get_running_loop()
        handler = _Recorder(self.received)
        self._server = await loop.create_server(
            lambda: self._protocol(handler),
            "127.0.0.1",
            self.port,
            ssl=self.tls_context if self.tls == "implicit" else None,
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def settings(self, **extra: Any) -> dict[str, Any]:
        login = {"user": self.login[0], "password": self.login[1]} if self.login else {}
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "tls": self.tls,
            "verify_tls": False,
            **login,
            **extra,
        }

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                await asyncio.sleep(0.02)
        return self.received
