"""IMAP over TLS from the first byte and upgraded with STARTTLS, against a Dovecot with a
certificate made by the test: mail comes in, and a certificate nobody vouches for is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.email_helpers import IMAP_PASSWORD, email_runtime, email_settings, eventually, ticket_of
from tests.support.dovecot import DovecotServer, ImapClient, mail


@pytest.fixture(scope="module")
def tls_dovecot() -> Iterator[DovecotServer]:
    server = DovecotServer(IMAP_PASSWORD, accounts=10, tls=True).start()
    yield server
    server.stop()


@pytest.mark.parametrize("mode", ["implicit", "starttls"])
async def test_mail_arrives_over_tls(
    database_url: str, tmp_path: Path, tls_dovecot: DovecotServer, mode: str
):
    box = tls_dovecot.mailbox()
    async with ImapClient(box) as imap:
        await imap.append(mail("jane@customer.test", "Over TLS", "Hi", message_id="<tls@c.test>"))
    port = tls_dovecot.tls_port if mode == "implicit" else tls_dovecot.port
    settings = email_settings(
        box,
        None,
        mailbox={"tls": mode, "port": port, "ca_file": str(tls_dovecot.cert_file)},
        auto_ack=False,
    )
    async with email_runtime(database_url, tmp_path, settings) as runtime:
        ticket = await eventually(lambda: ticket_of(runtime, "support:<tls@c.test>"))
        assert ticket.subject == "Over TLS"
        assert runtime.email is not None and runtime.email.workers[0].status.connected


async def test_an_unknown_certificate_is_refused(tmp_path: Path, tls_dovecot: DovecotServer):
    box = tls_dovecot.mailbox()
    url = f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    settings = email_settings(box, None, mailbox={"tls": "implicit", "port": tls_dovecot.tls_port})
    async with email_runtime(url, tmp_path, settings) as runtime:
        assert runtime.email is not None
        worker = runtime.email.workers[0]
        error = await eventually(lambda: _error(worker.status.last_error))
        assert "CERTIFICATE_VERIFY_FAILED" in error and not worker.status.connected


async def _error(value: str | None) -> str | None:
    return value
