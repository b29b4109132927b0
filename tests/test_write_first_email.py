"""Writing first by email, end to end through aiosmtpd and a real Dovecot: the agent opens a
ticket, the mail opens a thread of its own, and the customer's replies (naming our Message-ID,
or only the subject tag) land on that ticket; no acknowledgement is sent for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from helpdesk.runtime import Runtime
from tests.conftest import People, seed_staff
from tests.email_helpers import api_as, email_runtime, email_settings, eventually, ticket_of
from tests.support.dovecot import ImapClient, Mailbox, mail
from tests.support.smtp import SmtpServer


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = await SmtpServer().start()
    yield server
    await server.stop()


async def _idle(runtime: Runtime) -> bool:
    return all(w.status.idle for w in runtime.email.workers)


async def test_an_agent_writes_first_and_the_customers_replies_thread_into_the_ticket(
    database_url: str, tmp_path: Path, dovecot: Mailbox, smtp: SmtpServer
):
    people = await seed_staff(database_url)
    async with email_runtime(database_url, tmp_path, email_settings(dovecot, smtp)) as runtime:
        await eventually(lambda: _idle(runtime))
        async with api_as(runtime, People().alice) as api:
            response = await api.post(
                "/api/tickets",
                json={
                    "customer": {"email": "Jane.Doe@Customer.test", "name": "Jane Doe"},
                    "subject": "Your router replacement",
                    "message": {
                        "channel": "email",
                        "text": "Your new router ships today.",
                        "customer_asked": True,
                    },
                },
            )
            assert response.status_code == 201, response.text
        number = response.json()["ticket"]["number"]

        [first] = await smtp.wait_for(1)
        assert first.recipients == ["jane.doe@customer.test"]
        # A thread of its own: our Message-ID, the tag, no "Re:", nothing it answers.
        assert first.message["Subject"] == f"Your router replacement [#{number}]"
        ours = first.message["Message-ID"]
        assert ours.startswith(f"<hd.{number}.") and ours.endswith("@example.test>")
        assert "In-Reply-To" not in first.message and "References" not in first.message
        assert "Auto-Submitted" not in first.message
        assert "Your new router ships today." in first.message.get_body(("plain",)).get_content()

        async with ImapClient(dovecot) as imap:
            # Her client names our message and keeps the tag.
            await imap.append(
                mail(
                    "Jane Doe <jane.doe@customer.test>",
                    f"Re: Your router replacement [#{number}]",
                    "Great, thanks!",
                    message_id="<thanks@customer.test>",
                    in_reply_to=ours,
                    references=ours,
                )
            )
            # Later she writes again with no reference headers, only the tag in the subject.
            await imap.append(
                mail(
                    "jane.doe@customer.test",
                    f"Router arrived [#{number}]",
                    "It arrived, but no cable.",
                    message_id="<arrived@customer.test>",
                )
            )
        for external in ("thanks@customer.test", "arrived@customer.test"):
            ticket = await eventually(lambda e=external: ticket_of(runtime, f"support:<{e}>"))
            assert ticket.id == number, external

        async with api_as(runtime, people.alice) as api:
            detail = (await api.get(f"/api/tickets/{number}")).json()
            assert [(m["direction"], m["text"]) for m in detail["messages"]] == [
                ("out", "Your new router ships today."),
                ("in", "Great, thanks!"),
                ("in", "It arrived, but no cable."),
            ]
            assert detail["customer"]["name"] == "Jane Doe"
            # The agent's answer now answers her mail: "Re:" and threaded.
            answer = await api.post(f"/api/tickets/{number}/reply", json={"text": "Cable sent."})
            assert answer.status_code in (200, 201), answer.text
        replies = await smtp.wait_for(2)
        assert replies[1].message["Subject"] == f"Re: Your router replacement [#{number}]"
        assert replies[1].message["In-Reply-To"] == "<arrived@customer.test>"
        await runtime.events.idle()
        # Nothing else went out: no acknowledgement for the ticket we opened.
        assert len(smtp.received) == 2
