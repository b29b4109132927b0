"""No sender can make us mass-mail, and only the customer decides who the customer is: a
10,000-address Cc, a stranger who knows a Message-ID, a web form's Reply-To, the recipients an
agent sees and changes, auto-replies to a resolved ticket, a qmail bounce, remote images. Real
database (SQLite and PostgreSQL), real SMTP sink, mail handed to the importer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from sqlalchemy import select

from helpdesk.channels.email.importer import RawMail
from helpdesk.runtime import Runtime
from helpdesk.tickets.models import DeliveryState, Message, Ticket, TicketStatus
from tests.conftest import People, seed_staff
from tests.email_helpers import SUPPORT, api_as, email_runtime, email_settings, eventually
from tests.support.dovecot import Mailbox, mail
from tests.support.smtp import SmtpServer


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = await SmtpServer().start()
    yield server
    await server.stop()


async def deliver(runtime: Runtime, *raws: bytes) -> list[int | None]:
    assert runtime.email is not None
    result = await runtime.email.importer.import_batch(
        "support", [RawMail(None, raw) for raw in raws]
    )
    return result.message_ids


async def ticket_of_message(runtime: Runtime, message_id: int | None) -> Ticket:
    assert message_id is not None
    async with runtime.db.read() as session:
        message = await session.get(Message, message_id)
        assert message is not None
        ticket = await session.get(Ticket, message.ticket_id)
        assert ticket is not None
        return ticket


async def test_a_huge_cc_and_a_stranger_never_become_recipients(
    database_url: str, tmp_path: Path, dovecot: Mailbox, smtp: SmtpServer
):
    people: People = await seed_staff(database_url)
    cc = ", ".join(f"p{i}@example.org" for i in range(10_000))
    first = mail(
        "Carla <carla@example.org>",
        "Spam for all",
        "Buy now!",
        message_id="<carla-1@example.org>",
        headers={"Cc": cc},
    )
    async with email_runtime(database_url, tmp_path, email_settings(dovecot, smtp)) as runtime:
        [stored] = await deliver(runtime, first.as_bytes())
        ticket = await ticket_of_message(runtime, stored)
        [ack] = await smtp.wait_for(1)
        assert ack.recipients == ["carla@example.org"] and "Cc" not in ack.message

        async with api_as(runtime, people.alice) as api:
            seen = (await api.get(f"/api/tickets/{ticket.id}/email-recipients")).json()
            assert seen["to"] == "carla@example.org" and seen["limit"] == 5
            assert [p["address"] for p in seen["cc"]] == [f"p{i}@example.org" for i in range(5)]

            # A stranger who knows the first Message-ID threads in: stored on the ticket,
            # listed as a request, and not a recipient.
            stranger = mail(
                "mallory@evil.test",
                "Re: Spam for all",
                "Send me the history",
                message_id="<mallory@evil.test>",
                in_reply_to="<carla-1@example.org>",
            )
            [theirs] = await deliver(runtime, stranger.as_bytes())
            assert (await ticket_of_message(runtime, theirs)).id == ticket.id
            seen = (await api.get(f"/api/tickets/{ticket.id}/email-recipients")).json()
            assert [p["address"] for p in seen["requests"]] == ["mallory@evil.test"]

            response = await api.post(f"/api/tickets/{ticket.id}/reply", json={"text": "Hello"})
            assert response.status_code in (200, 201), response.text
            reply = (await smtp.wait_for(2))[1]
            assert reply.message["To"] == "carla@example.org"
            assert sorted(reply.recipients) == sorted(
                ["carla@example.org", *(f"p{i}@example.org" for i in range(5))]
            )

            # The agent changes who is copied: one of the five, and the accepted request.
            response = await api.put(
                f"/api/tickets/{ticket.id}/email-recipients",
                json={"cc": ["p3@example.org", "Mallory@Evil.test"]},
            )
            assert response.status_code == 200, response.text
            changed = response.json()
            assert [p["address"] for p in changed["cc"]] == ["p3@example.org", "mallory@evil.test"]
            assert changed["requests"] == [] and len(changed["removed"]) == 4
            too_many = [f"x{i}@example.org" for i in range(6)]
            refused = await api.put(
                f"/api/tickets/{ticket.id}/email-recipients", json={"cc": too_many}
            )
            assert refused.status_code == 422 and "at most 5" in refused.text
            bad = await api.put(
                f"/api/tickets/{ticket.id}/email-recipients", json={"cc": ["not an address"]}
            )
            assert bad.status_code == 422

            await api.post(f"/api/tickets/{ticket.id}/reply", json={"text": "Again"})
            again = (await smtp.wait_for(3))[2]
            assert sorted(again.recipients) == [
                "carla@example.org",
                "mallory@evil.test",
                "p3@example.org",
            ]
            # A later Cc from the customer does not bring back whom the agent removed.
            follow = mail(
                "carla@example.org",
                f"Re: Spam for all [#{ticket.id}]",
                "More",
                message_id="<carla-2@example.org>",
                headers={"Cc": "p1@example.org, p2@example.org"},
            )
            await deliver(runtime, follow.as_bytes())
            seen = (await api.get(f"/api/tickets/{ticket.id}/email-recipients")).json()
            assert [p["address"] for p in seen["cc"]] == ["p3@example.org", "mallory@evil.test"]
            assert (await api.get("/api/tickets/999999/email-recipients")).status_code == 404


async def test_reply_to_is_the_customer_only_from_a_trusted_form(
    database_url: str, tmp_path: Path, dovecot: Mailbox, smtp: SmtpServer
):
    settings = email_settings(dovecot, smtp, mailbox={"trusted_forms": ["Form@Shop.test"]})
    async with email_runtime(database_url, tmp_path, settings) as runtime:
        first = mail(
            "Contact form <form@shop.test>",
            "Question from the website",
            "Where is my parcel?",
            message_id="<form-1@shop.test>",
            headers={"Reply-To": "Ann <ann@customer.test>"},
        )
        [stored] = await deliver(runtime, first.as_bytes())
        ticket = await ticket_of_message(runtime, stored)
        [ack] = await smtp.wait_for(1)
        assert ack.recipients == ["ann@customer.test"]

        # A second user of the same form naming the first one's ticket gets a ticket of his own.
        second = mail(
            "Contact form <form@shop.test>",
            f"[#{ticket.id}] me too",
            "Show me Ann's ticket",
            message_id="<form-2@shop.test>",
            headers={"Reply-To": "bob@other.test"},
        )
        [theirs] = await deliver(runtime, second.as_bytes())
        assert (await ticket_of_message(runtime, theirs)).id != ticket.id
        await smtp.wait_for(2)
        assert smtp.received[1].recipients == ["bob@other.test"]

        # Anyone else's Reply-To is not believed: the ticket is From's.
        other = mail(
            "zed@example.org",
            "Hi",
            "x",
            message_id="<zed@example.org>",
            headers={"Reply-To": "victim@example.org"},
        )
        await deliver(runtime, other.as_bytes())
        await smtp.wait_for(3)
        assert smtp.received[2].recipients == ["zed@example.org"]


async def test_machine_answers_file_quietly_and_qmail_bounces_fail_the_reply(
    database_url: str, tmp_path: Path, dovecot: Mailbox, smtp: SmtpServer
):
    people: People = await seed_staff(database_url)
    async with email_runtime(database_url, tmp_path, email_settings(dovecot, smtp)) as runtime:
        first = mail(
            "jane@customer.test",
            "Router",
            "Broken",
            message_id="<jane-1@customer.test>",
        )
        html = mail("jane@customer.test", "Pic", "x", message_id="<jane-html@customer.test>")
        html.add_alternative('<p>See</p><img src="https://track.example/p.gif?id=7">', "html")
        [stored, with_image] = await deliver(runtime, first.as_bytes(), html.as_bytes())
        ticket = await ticket_of_message(runtime, stored)
        await smtp.wait_for(2)
        async with api_as(runtime, people.alice) as api:
            await api.post(f"/api/tickets/{ticket.id}/reply", json={"text": "Restart it"})
            reply = (await smtp.wait_for(3))[2]
            ours = reply.message["Message-ID"]
            response = await api.patch(f"/api/tickets/{ticket.id}", json={"status": "resolved"})
            assert response.status_code == 200, response.text

            # Exchange's out-of-office answer to our reply: no header, only its subject.
            away = mail(
                "jane@customer.test",
                "Automatic reply: Re: Router",
                "I am away until Monday.",
                message_id="<ooo@customer.test>",
                in_reply_to=ours,
            )
            [filed] = await deliver(runtime, away.as_bytes())
            assert (await ticket_of_message(runtime, filed)).id == ticket.id
            async with runtime.db.read() as session:
                resolved = await session.get(Ticket, ticket.id)
                assert resolved is not None and resolved.status == TicketStatus.RESOLVED

            qmail = (
                "From: MAILER-DAEMON@mx.customer.test\r\n"
                f"To: {SUPPORT}\r\nSubject: failure notice\r\n\r\n"
                "Hi. This is the qmail-send program at mx.customer.test.\n"
                "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
                "<jane@customer.test>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
                "--- Below this line is a copy of the message.\n\n"
                f"Message-ID: {ours}\nSubject: Re: Router\n\nRestart it\n"
            ).encode()
            [bounce] = await deliver(runtime, qmail)
            assert bounce is None  # no ticket for it

            async def failed() -> bool:
                async with runtime.db.read() as session:
                    sent = await session.scalar(select(Message).where(Message.text == "Restart it"))
                    return sent is not None and sent.delivery_state == DeliveryState.FAILED

            await eventually(failed)

            # Remote images are out of what an agent is shown, until asked for.
            pictured = (await ticket_of_message(runtime, with_image)).id
            shown = (await api.get(f"/api/tickets/{pictured}")).json()
            [message] = [m for m in shown["messages"] if m["id"] == with_image]
            assert message["remote_images_blocked"] == 1
            assert "track.example" not in message["html"]
            asked = (await api.get(f"/api/tickets/{pictured}?remote_images=true")).json()
            [message] = [m for m in asked["messages"] if m["id"] == with_image]
            assert "track.example" in message["html"] and message["remote_images_blocked"] == 0
