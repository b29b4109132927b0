"""The bytes of our mail as a client reads them: accented subjects and names, long address lists
and References chains (encoded and folded), two readable parts, a clean parse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest_asyncio

from tests.conftest import People, seed_staff
from tests.email_helpers import api_as, email_runtime, email_settings, eventually, ticket_of
from tests.support.dovecot import ImapClient, Mailbox, mail
from tests.support.smtp import SmtpServer

SUBJECT = "Rückfrage zur Bestellung 4711: Lieferung verspätet, Rechnung doppelt, bitte prüfen"
# Long ids, so three of them make a References header that must be folded.
FIRST = "<first-message-with-a-rather-long-identifier-0123456789@mail.customer.test>"
ANSWER = "Wir kümmern uns darum — «sofort»."
SECOND = "<second-message-with-a-rather-long-identifier-0123456789@mail.customer.test>"
COPIED = [(f"Kollegin Jörg-Ä {n}", f"colleague{n}@customer.test") for n in range(7)]


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = await SmtpServer().start()
    yield server
    await server.stop()


def clean(message: EmailMessage) -> None:
    """Parsed without a defect, every part included, and both bodies readable."""
    assert [part.defects for part in message.walk()] == [[], [], []]
    assert message.get_content_type() == "multipart/alternative"


async def test_accented_subject_names_and_a_long_thread_arrive_intact(
    database_url: str, tmp_path: Path, dovecot: Mailbox, smtp: SmtpServer
):
    people: People = await seed_staff(database_url)
    settings = email_settings(dovecot, smtp)
    async with email_runtime(database_url, tmp_path, settings) as runtime:
        copies = ", ".join(f'"{name}" <{address}>' for name, address in COPIED)
        async with ImapClient(dovecot) as imap:
            await imap.append(
                mail(
                    "Jürgen Müller <juergen@customer.test>",
                    SUBJECT,
                    "Grüße aus München.\n\nJürgen",
                    message_id=FIRST,
                    headers={"Cc": copies},
                )
            )
        ticket = await eventually(lambda: ticket_of(runtime, f"support:{FIRST}"))

        # The acknowledgement answers the mail: the subject whole and tagged, to the sender alone.
        [ack] = await smtp.wait_for(1)
        clean(ack.message)
        assert ack.message["Subject"] == f"Re: {SUBJECT} [#{ticket.id}]"
        assert ack.message["In-Reply-To"] == FIRST
        assert ack.recipients == ["juergen@customer.test"] and "Cc" not in ack.message
        assert SUBJECT in ack.message.get_body(("plain",)).get_content()

        async with ImapClient(dovecot) as imap:
            await imap.append(
                mail(
                    "Jürgen Müller <juergen@customer.test>",
                    f"Re: {SUBJECT} [#{ticket.id}]",
                    "Noch etwas: die Adresse hat sich geändert.",
                    message_id=SECOND,
                    in_reply_to=FIRST,
                    references=FIRST,
                )
            )
        await eventually(lambda: ticket_of(runtime, f"support:{SECOND}"))
        async with api_as(runtime, people.alice) as api:
            response = await api.post(
                f"/api/tickets/{ticket.id}/reply",
                json={"text": ANSWER},
            )
            assert response.status_code in (200, 201), response.text
        _, answer = await smtp.wait_for(2)
        clean(answer.message)
        assert answer.message["Subject"] == f"Re: {SUBJECT} [#{ticket.id}]"
        # The copied people, as many as the setting allows, names and addresses intact.
        cc = answer.message["Cc"].addresses
        limit = runtime.settings.email.reply_participants_max
        assert [(a.display_name, a.addr_spec) for a in cc] == COPIED[:limit]
        assert answer.recipients == ["juergen@customer.test", *(a for _, a in COPIED[:limit])]
        # The thread: every earlier message of it, oldest first, the newest answered.
        assert answer.message["In-Reply-To"] == SECOND
        chain = answer.message["References"].split()
        assert chain[0] == FIRST and chain[-1] == SECOND
        assert str(answer.message["From"]) == "Example Support <support@example.test>"
        plain = answer.message.get_body(("plain",)).get_content()
        assert ANSWER in plain
        assert "> Noch etwas: die Adresse hat sich geändert." in plain
        html = answer.message.get_body(("html",)).get_content()
        assert "&laquo;sofort&raquo;" in html or "«sofort»" in html
