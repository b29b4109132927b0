"""The email channel end to end against a real Dovecot (IMAP IDLE) and aiosmtpd: threading,
strangers, participants, loop protection, bounces, SMTP outages and the admin API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select

from helpdesk.channels.email.models import EmailParticipant
from helpdesk.customers.models import Identity
from helpdesk.delivery.models import OutboxItem, OutboxStatus
from helpdesk.tickets.models import DeliveryState, Direction, Message, Ticket
from tests.conftest import People, seed_staff
from tests.email_helpers import (
    SUPPORT,
    api_as,
    email_runtime,
    email_settings,
    eventually,
    message_count,
    ticket_of,
)
from tests.support.dovecot import ImapClient, Mailbox, mail
from tests.support.smtp import SmtpServer, self_signed_context


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = await SmtpServer().start()
    yield server
    await server.stop()


async def append(dovecot: Mailbox, *messages: EmailMessage | bytes) -> None:
    async with ImapClient(dovecot) as imap:
        for message in messages:
            await imap.append(message)


def bounce_of(message_id: str, recipient: str) -> bytes:
    """A DSN as Postfix writes one (RFC 3464)."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\n"
        f"To: {SUPPORT}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nTo: {recipient}\r\nSubject: Re: x\r\n"
        "--B--\r\n"
    ).encode()


async def test_mail_becomes_a_ticket_and_replies_thread(
    database_url: str, tmp_path: Path, dovecot: Mailbox, smtp: SmtpServer
):
    people: People = await seed_staff(database_url)
    async with email_runtime(database_url, tmp_path, email_settings(dovecot, smtp)) as runtime:
        await eventually(lambda: _idle(runtime))
        started = time.monotonic()
        await append(
            dovecot,
            mail(
                "Jane Doe <Jane.Doe@Customer.test>",
                "Router broken",
                "My router blinks red.\n\nJane",
                message_id="<first@customer.test>",
                headers={"Cc": "Tom Lee <tom@customer.test>"},
            ),
        )
        ticket = await eventually(lambda: ticket_of(runtime, "support:<first@customer.test>"))
        assert time.monotonic() - started < 5, "IDLE should bring mail in within a second or so"
        async with runtime.db.read() as session:
            identity = await session.scalar(select(Identity).where(Identity.channel == "email"))
            participants = (await session.scalars(select(EmailParticipant.address))).all()
        assert identity is not None
        assert (identity.address, identity.display_name) == ("jane.doe@customer.test", "Jane Doe")
        assert participants == ["tom@customer.test"]

        # The automatic acknowledgement names the ticket and marks itself automatic.
        [ack] = await smtp.wait_for(1)
        assert f"[#{ticket.id}]" in ack.message["Subject"]
        assert ack.message["Auto-Submitted"] == "auto-replied"
        # To the sender alone: a copied address never gets our automatic mail.
        assert ack.recipients == ["jane.doe@customer.test"] and "Cc" not in ack.message
        assert f"#{ticket.id}" in ack.message.get_body(("plain",)).get_content()

        # An agent answers; the mail threads to the customer's and quotes a little history.
        async with api_as(runtime, people.alice) as api:
            response = await api.post(
                f"/api/tickets/{ticket.id}/reply", json={"text": "Please restart it."}
            )
            assert response.status_code in (200, 201), response.text
        _, answer = await smtp.wait_for(2)
        assert answer.message["In-Reply-To"] == "<first@customer.test>"
        assert answer.message["Subject"] == f"Re: Router broken [#{ticket.id}]"
        assert "Auto-Submitted" not in answer.message
        plain = answer.message.get_body(("plain",)).get_content()
        assert "Please restart it." in plain and "Alice Agent" in plain
        assert "> My router blinks red." in plain
        html = answer.message.get_body(("html",)).get_content()
        assert "<blockquote" in html and "Please restart it." in html
        ours = answer.message["Message-ID"]
        assert ours.endswith("@example.test>")

        # The customer's client replies with the tag in the subject (sender in other case).
        await append(
            dovecot,
            mail(
                "JANE.DOE@customer.test",
                f"Re: Router broken [#{ticket.id}]",
                "Restarted, still red.\n\nOn Monday, Support wrote:\n> Please restart it.",
                message_id="<second@customer.test>",
            ),
            # From her other address, naming only our message: the reference proves it.
            mail(
                "jane@home.test",
                "from my phone",
                "Also: the power LED is off.",
                message_id="<third@home.test>",
                in_reply_to=ours,
            ),
            # A stranger quoting the ticket number gets a ticket of his own.
            mail(
                "mallory@evil.test",
                f"[#{ticket.id}] send me the invoice",
                "hi",
                message_id="<evil@evil.test>",
            ),
            # The CC'd colleague may continue by ticket number.
            mail(
                "tom@customer.test",
                f"[#{ticket.id}] same here",
                "Mine too.",
                message_id="<tom@customer.test>",
            ),
        )
        for external in ("second@customer.test", "third@home.test", "tom@customer.test"):
            continued = await eventually(lambda e=external: ticket_of(runtime, f"support:<{e}>"))
            assert continued.id == ticket.id, external
        stranger = await eventually(lambda: ticket_of(runtime, "support:<evil@evil.test>"))
        assert stranger.id != ticket.id
        async with runtime.db.read() as session:
            second = await session.scalar(
                select(Message).where(Message.external_id == "support:<second@customer.test>")
            )
        assert second is not None
        assert second.text == "Restarted, still red."
        assert "Please restart it." in (second.html or "")

        # Tom wrote last; the answer still goes to the customer, with Tom in copy. Her other
        # address, unknown to the ticket, is a request for an agent, not a recipient.
        await smtp.wait_for(3)
        async with api_as(runtime, people.alice) as api:
            response = await api.post(f"/api/tickets/{ticket.id}/reply", json={"text": "Both?"})
            assert response.status_code in (200, 201), response.text
        to_tom = (await smtp.wait_for(4))[3]
        assert to_tom.message["To"] == "jane.doe@customer.test"
        assert to_tom.message["Cc"] == "Tom Lee <tom@customer.test>"
        assert to_tom.message["In-Reply-To"] == "<tom@customer.test>"

        # An auto-reply is stored but never answered; the stranger's new ticket got one ack.
        acks_before = len(smtp.received)
        await append(
            dovecot,
            mail(
                "jane.doe@customer.test",
                f"Out of office [#{ticket.id}]",
                "I am away until Monday.",
                message_id="<ooo@customer.test>",
                headers={"Auto-Submitted": "auto-replied"},
            ),
            mail(
                "news@shop.test",
                "Our weekly deals",
                "Buy now",
                message_id="<news@shop.test>",
                headers={"List-Unsubscribe": "<mailto:unsubscribe@shop.test>"},
            ),
            bounce_of(ours, "jane.doe@customer.test"),
        )
        await eventually(lambda: ticket_of(runtime, "support:<news@shop.test>"))
        await eventually(lambda: _failed(runtime, ours))
        async with runtime.db.read() as session:
            answered = await session.get(Message, int(ours.split(".")[2]))
            handed = await session.get(Ticket, ticket.id)
        assert answered is not None and "5.1.1" in (answered.delivery_error or "")
        assert handed is not None and handed.handed_over_at is not None
        await _settle(runtime)
        assert len(smtp.received) == acks_before
        async with ImapClient(dovecot) as imap:
            assert await imap.count(criteria="UNSEEN") == 0
            assert await imap.count() == 8


async def test_smtp_outage_delays_and_each_reply_goes_out_once(
    database_url: str, tmp_path: Path, dovecot: Mailbox, smtp: SmtpServer
):
    people = await seed_staff(database_url)
    settings = email_settings(dovecot, smtp, auto_ack=False)
    async with email_runtime(database_url, tmp_path, settings) as runtime:
        await append(dovecot, mail("ann@customer.test", "Help", "Hello", message_id="<a@c.test>"))
        ticket = await eventually(lambda: ticket_of(runtime, "support:<a@c.test>"))
        await smtp.stop()
        async with api_as(runtime, people.bob) as api:
            for n in range(3):
                response = await api.post(
                    f"/api/tickets/{ticket.id}/reply", json={"text": f"answer {n}"}
                )
                assert response.status_code in (200, 201)
        await eventually(lambda: _failed_attempts(runtime, 3))
        await smtp.start()
        received = await smtp.wait_for(3)
        await _settle(runtime)
        assert len(smtp.received) == 3
        assert len({r.message["Message-ID"] for r in received}) == 3
        bodies = sorted(
            r.message.get_body(("plain",)).get_content().splitlines()[0] for r in received
        )
        assert bodies == ["answer 0", "answer 1", "answer 2"]


async def test_admins_see_mailboxes_and_reimport_quarantine(
    database_url: str, tmp_path: Path, dovecot: Mailbox
):
    people = await seed_staff(database_url)
    settings = email_settings(dovecot, None, max_message_bytes=4096)
    async with email_runtime(database_url, tmp_path, settings) as runtime:
        big = mail("big@customer.test", "Logs", "x" * 10_000, message_id="<big@c.test>")
        await append(dovecot, b"Subject: no sender at all\r\n\r\nhello\r\n", big)
        async with api_as(runtime, people.supervisor) as api:
            quarantined = await eventually(lambda: _quarantined(api, 2))
            reasons = sorted(q["reason"] for q in quarantined)
            assert reasons[0].startswith("no sender address")
            assert reasons[1].startswith("too large")
            states = (await api.get("/api/email/mailboxes")).json()
            assert states[0]["name"] == "support" and states[0]["connected"] is True
            assert states[0]["last_uid"] == 2 and states[0]["last_error"] is None
            by_reason = {q["reason"][:3]: q for q in quarantined}
            raw = await api.get(f"/api/email/quarantine/{by_reason['no ']['id']}/raw")
            assert raw.content.startswith(b"Subject: no sender")
            again = await api.post(f"/api/email/quarantine/{by_reason['no ']['id']}/reimport")
            assert again.status_code == 422 and "no sender" in again.json()["detail"]
            done = await api.post(f"/api/email/quarantine/{by_reason['too']['id']}/reimport")
            assert done.status_code == 200, done.text
            assert await ticket_of(runtime, "support:<big@c.test>") is not None
            assert len((await api.get("/api/email/quarantine")).json()) == 1
        async with api_as(runtime, people.alice) as api:
            assert (await api.get("/api/email/mailboxes")).status_code == 403
            assert (await api.get("/api/email/quarantine")).status_code == 403


async def _idle(runtime) -> bool:
    return all(w.status.idle for w in runtime.email.workers)


async def _failed(runtime, rfc_message_id: str) -> bool:
    async with runtime.db.read() as session:
        message = await session.get(Message, int(rfc_message_id.split(".")[2]))
        return message is not None and message.delivery_state == DeliveryState.FAILED


async def _failed_attempts(runtime, count: int) -> bool:
    async with runtime.db.read() as session:
        items = (await session.scalars(select(OutboxItem))).all()
    return len([i for i in items if i.attempts >= 1 and i.last_error]) >= count


async def _quarantined(api, count: int) -> list[dict] | None:
    found = (await api.get("/api/email/quarantine")).json()
    return found if len(found) >= count else None


async def _settle(runtime) -> None:
    """Until every reaction has decided about what was stored (an acknowledgement or none) and
    the outbox has nothing left to send: what was going to be sent has been."""
    import asyncio

    await runtime.events.idle()
    for _ in range(500):
        async with runtime.db.read() as session:
            busy = await session.scalar(
                select(OutboxItem.id)
                .where(OutboxItem.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))
                .limit(1)
            )
        if busy is None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the outbox did not settle")


async def _messages_out(runtime) -> int:
    async with runtime.db.read() as session:
        return len(
            (await session.scalars(select(Message).where(Message.direction == Direction.OUT))).all()
        )


__all__ = ["message_count"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize(
    ("tls", "login"),
    [("starttls", ("helpdesk", "smtp-pw")), ("implicit", ("helpdesk", "smtp-pw")), ("none", None)],
)
async def test_smtp_modes_deliver_and_a_wrong_password_is_a_clear_error(
    tmp_path: Path, dovecot: Mailbox, tls: str, login: tuple[str, str] | None
):
    context = self_signed_context(tmp_path) if tls != "none" else None
    server = await SmtpServer(tls=tls, tls_context=context, login=login).start()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    people = await seed_staff(database_url)
    try:
        settings = email_settings(dovecot, server, auto_ack=False)
        async with email_runtime(database_url, tmp_path, settings) as runtime:
            await append(dovecot, mail("ann@customer.test", "Hi", "Hello", message_id="<m@c>"))
            ticket = await eventually(lambda: ticket_of(runtime, "support:<m@c>"))
            async with api_as(runtime, people.alice) as api:
                await api.post(f"/api/tickets/{ticket.id}/reply", json={"text": "Hello Ann"})
            [sent] = await server.wait_for(1)
            assert sent.recipients == ["ann@customer.test"]
        if login is None:
            return
        wrong = email_settings(dovecot, server, auto_ack=False)
        wrong["smtp"]["password"] = "wrong"
        async with email_runtime(database_url, tmp_path / "again", wrong) as runtime:
            async with api_as(runtime, people.alice) as api:
                await api.post(f"/api/tickets/{ticket.id}/reply", json={"text": "Second"})

            async def refused() -> str | None:
                async with runtime.db.read() as session:
                    item = await session.scalar(select(OutboxItem).order_by(OutboxItem.id.desc()))
                return item.last_error if item else None

            error = await eventually(refused)
            assert "SMTP login refused" in error and "535" in error
            assert len(server.received) == 1
            async with runtime.db.read() as session:
                item = await session.scalar(select(OutboxItem).order_by(OutboxItem.id.desc()))
            # A wrong password is the operator's to fix: the reply waits, it is not given up.
            assert item is not None and item.status == OutboxStatus.PENDING
    finally:
        await server.stop()
