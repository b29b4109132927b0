"""No mail can block a mailbox: dozens of hostile mails, each followed by a normal one, against
a real Dovecot with acknowledgements on (SMTP sink). Every normal mail becomes a ticket within
5 s; every hostile one is stored or quarantined with its reason. A mail the database refuses
(a stand-in for any bug: a trigger in the test database) is tried a bounded number of times,
then quarantined, and the mail after it goes on."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from sqlalchemy import func, select, text

from helpdesk.channels.email.models import EmailQuarantine
from helpdesk.customers.models import Identity
from helpdesk.storage.database import Database
from helpdesk.tickets.models import Message, Ticket
from tests.email_helpers import email_runtime, email_settings, eventually, ticket_of
from tests.support.dovecot import ImapClient, Mailbox, mail
from tests.support.smtp import SmtpServer

PILL = "POISON-PILL"


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = await SmtpServer().start()
    yield server
    await server.stop()


def _raw(head: str, body: bytes = b"Hello.\r\n", *, encoding: str = "utf-8") -> bytes:
    return head.replace("\n", "\r\n").encode(encoding, "surrogateescape") + b"\r\n" + body


def hostile_variants() -> list[tuple[str, bytes, bool]]:
    """(what, raw bytes, whether it must be quarantined rather than stored)."""
    long_local = "x" * 400
    multipart = (
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n",
        b"--B\r\nContent-Type: text/plain\r\n\r\nsee file\r\n--B\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''a%00b%0A%E2%80%AE.txt\r\n\r\n"
        b"data\r\n--B--\r\n",
    )
    variants: list[tuple[str, bytes, bool]] = [
        (
            "raw UTF-8 address",
            _raw("From: Jürgen <jürgen@bücher.example>\nSubject: Hallo\n"),
            False,
        ),
        (
            "raw Latin-1 From",
            _raw("From: müller@example.de\nSubject: x\n", encoding="latin-1"),
            False,
        ),
        (
            "raw Latin-1 Cc",
            _raw(
                "From: a1@example.org\nCc: Zoë <zoë@example.de>\nSubject: x\n", encoding="latin-1"
            ),
            False,
        ),
        ("sender over 320", _raw(f"From: {long_local}@example.org\nSubject: long\n"), True),
        ("Cc over 320", _raw(f"From: a2@example.org\nCc: {long_local}@example.org\n"), False),
        ("NUL in file name", _raw("From: a3@example.org\n" + multipart[0], multipart[1]), False),
        ("NUL in subject", _raw("From: a4@example.org\nSubject: a\x00b\n"), False),
        ("NUL in Message-ID", _raw("From: a5@example.org\nMessage-ID: <n\x00ul@x>\n"), False),
        ("year 9999", _raw("From: a6@example.org\nDate: Fri, 31 Dec 9999 23:59:59 -1200\n"), False),
        (
            "far future",
            _raw("From: a7@example.org\nDate: Mon, 02 Mar 2099 09:00:00 +0000\n"),
            False,
        ),
        ("date garbage", _raw("From: a8@example.org\nDate: 99 Foo 12345 99:99:99 +9999\n"), False),
        ("no From", _raw("Subject: nobody\n"), True),
        ("From without @", _raw("From: nobody\n"), True),
        (
            "huge ticket number",
            _raw("From: a9@example.org\nSubject: [#99999999999999999999] x\n"),
            False,
        ),
        ("number 2^63", _raw("From: b1@example.org\nSubject: [#9223372036854775808] x\n"), False),
        ("zero ticket", _raw("From: b2@example.org\nSubject: Re: [#0]\n"), False),
        ("long Message-ID", _raw(f"From: b3@example.org\nMessage-ID: <{'m' * 2000}@x>\n"), False),
        (
            "long References",
            _raw("From: b4@example.org\nReferences: " + "<r@x> " * 3000 + "\n"),
            False,
        ),
        ("long subject", _raw("From: b5@example.org\nSubject: " + "s" * 5000 + "\n"), False),
        ("long name", _raw(f"From: {'N' * 1000} <b6@example.org>\n"), False),
        (
            "unknown charset",
            _raw("From: b7@example.org\nContent-Type: text/plain; charset=x-nope\n"),
            False,
        ),
        (
            "bad UTF-8 body",
            _raw("From: b8@example.org\n", "Grüße \xff".encode("utf-8", "surrogateescape")),
            False,
        ),
        (
            "encoded-word junk",
            _raw("From: =?utf-8?b?////?= <b9@example.org>\nSubject: =?x?q?=FF?=\n"),
            False,
        ),
        ("surrogate word", _raw("From: =?utf-16?b?2D3YAA==?= <c1@example.org>\n"), False),
        ("bidi in name", _raw("From: \u202eevil <c2@example.org>\n"), False),
        (
            "control chars",
            _raw("From: c3@example.org\nSubject: \x01\x02\x1b[31m\n", b"\x00\x07text\r\n"),
            False,
        ),
        ("empty body", _raw("From: c4@example.org\n", b""), False),
        ("only headers", b"From: c5@example.org", False),
        ("bare LF", b"From: c6@example.org\nSubject: lf\n\nbody\n", False),
        (
            "deep nesting",
            _raw(
                "From: c7@example.org\n" + "Content-Type: multipart/mixed; boundary=A\n",
                b"--A\r\n" * 50,
            ),
            False,
        ),
        ("Reply-To hostile", _raw(f"From: c8@example.org\nReply-To: {long_local}@x.org\n"), False),
        (
            "10,000 Cc",
            _raw(
                "From: c9@example.org\nCc: "
                + ", ".join(f"p{i}@example.org" for i in range(10000))
                + "\n"
            ),
            False,
        ),
        (
            "the database refuses it",
            _raw("From: d1@example.org\nSubject: pill\n", PILL.encode()),
            True,
        ),
        (
            "HTML with tracking",
            _raw(
                "From: d2@example.org\nContent-Type: text/html\n",
                b'<img src="http://t.example/p.gif">hi',
            ),
            False,
        ),
        (
            "8-bit subject",
            _raw("From: d3@example.org\nSubject: R\xe4ksm\xf6rg\xe5s\n", encoding="latin-1"),
            False,
        ),
        ("auto-reply", _raw("From: d4@example.org\nAuto-Submitted: auto-replied\n"), False),
    ]
    return variants


async def refuse_in_database(database_url: str) -> None:
    """The test database refuses any message containing PILL, as a bug would."""
    db = Database(database_url)
    try:
        await db.migrate()
        async with db.engine.begin() as connection:
            if db.is_sqlite:
                await connection.execute(
                    text(
                        "CREATE TRIGGER refuse_pill BEFORE INSERT ON messages "
                        f"WHEN NEW.text LIKE '%{PILL}%' "
                        "BEGIN SELECT RAISE(ABORT, 'refused by the test database'); END"
                    )
                )
            else:
                await connection.execute(
                    text(
                        "CREATE FUNCTION refuse_pill() RETURNS trigger AS $$ BEGIN "
                        f"IF NEW.text LIKE '%{PILL}%' THEN "
                        "RAISE EXCEPTION 'refused by the test database'; END IF; "
                        "RETURN NEW; END $$ LANGUAGE plpgsql"
                    )
                )
                await connection.execute(
                    text(
                        "CREATE TRIGGER refuse_pill BEFORE INSERT ON messages FOR EACH ROW "
                        "EXECUTE FUNCTION refuse_pill()"
                    )
                )
    finally:
        await db.dispose()


async def test_no_mail_blocks_the_mailbox(
    database_url: str, tmp_path: Path, dovecot: Mailbox, smtp: SmtpServer
):
    await refuse_in_database(database_url)
    variants = hostile_variants()
    assert len(variants) >= 30
    # Half waits in the mailbox before the start (imported in batches), half arrives live.
    half = len(variants) // 2
    async with ImapClient(dovecot) as imap:
        for number, (_, raw, _) in enumerate(variants[:half]):
            await imap.append(raw)
            await imap.append(_normal(number))
    async with email_runtime(database_url, tmp_path, email_settings(dovecot, smtp)) as runtime:
        started = time.monotonic()
        for number in range(half):
            await eventually(lambda n=number: ticket_of(runtime, _normal_id(n)), timeout=5)
        assert time.monotonic() - started < 5
        async with ImapClient(dovecot) as imap:
            for number, (what, raw, _) in enumerate(variants[half:], start=half):
                await imap.append(raw)
                await imap.append(_normal(number))
                arrived = time.monotonic()
                await eventually(lambda n=number: ticket_of(runtime, _normal_id(n)), timeout=5)
                assert time.monotonic() - arrived < 5, what

        async with runtime.db.read() as session:
            reasons = (await session.scalars(select(EmailQuarantine.reason))).all()
            stored = await session.scalar(select(func.count()).select_from(Message))
            identities = set((await session.scalars(select(Identity.address))).all())
            numbers = (await session.scalars(select(Ticket.id).order_by(Ticket.id))).all()
        expected = sum(quarantined for *_, quarantined in variants)
        assert len(reasons) == expected, reasons
        assert any("refused by the test database" in r and "3 tries" in r for r in reasons)
        assert any("320" in r for r in reasons)
        assert (stored or 0) >= 2 * len(variants) - expected
        assert {"jürgen@bücher.example", "müller@example.de"} <= identities
        # A bounded number of ticket numbers may be lost to the refused mail's tries (one
        # batch and its retries), never one per second as before.
        assert numbers[-1] - len(numbers) <= len(variants) + 3
        # The 10,000-address Cc got one acknowledgement, to its sender alone.
        sent = [r for r in smtp.received if r.recipients == ["c9@example.org"]]
        assert len(sent) == 1 and "Cc" not in sent[0].message
        assert all(len(r.recipients) == 1 for r in smtp.received)


def _normal_id(number: int) -> str:
    return f"support:<normal-{number}@customer.test>"


def _normal(number: int) -> bytes:
    message = mail(
        f"normal{number}@customer.test",
        f"Normal mail {number}",
        "My order has not arrived.",
        message_id=f"<normal-{number}@customer.test>",
    )
    return message.as_bytes()
