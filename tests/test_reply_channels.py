"""An agent answers a chat by email: the reply goes on another of the customer's linked
channels, to an address the customer proved; an unproven or someone else's address is refused
with the reason, and nothing is queued."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest_asyncio
from sqlalchemy import func, select

from helpdesk.customers.models import Identity
from helpdesk.delivery.models import OutboxItem
from helpdesk.messages import InboundMessage
from tests.conftest import People, seed_staff
from tests.email_helpers import api_as, email_runtime, email_settings
from tests.support.dovecot import Mailbox
from tests.support.smtp import SmtpServer


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = await SmtpServer().start()
    yield server
    await server.stop()


async def test_a_chat_answered_by_email_to_a_proven_address_only(
    database_url: str, tmp_path: Path, dovecot: Mailbox, smtp: SmtpServer
):
    await seed_staff(database_url)
    async with email_runtime(database_url, tmp_path, email_settings(dovecot, smtp)) as runtime:
        chat = await runtime.intake.receive(
            InboundMessage(
                channel="webchat",
                external_id="v1:1",
                sender="v1",
                sender_name="Jane",
                text="Can you send me the invoice by email?",
            )
        )
        other = await runtime.intake.receive(
            InboundMessage(channel="webchat", external_id="v2:1", sender="v2", text="Hi")
        )
        now = datetime.now(UTC)
        async with runtime.db.transaction() as session:
            proven = Identity(
                customer_id=chat.customer_id,
                channel="email",
                address="jane@customer.test",
                created_at=now,
            )
            unproven = Identity(
                customer_id=chat.customer_id,
                channel="email",
                address="jane.typed@customer.test",
                created_at=now,
                verified=False,
            )
            foreign = Identity(
                customer_id=other.customer_id,
                channel="email",
                address="someone@else.test",
                created_at=now,
            )
            session.add_all([proven, unproven, foreign])
            await session.flush()
            ids = proven.id, unproven.id, foreign.id

        async with api_as(runtime, People().supervisor) as api:
            path = f"/api/tickets/{chat.ticket_id}/reply"
            refused_unproven = await api.post(path, json={"text": "x", "via_identity_id": ids[1]})
            refused_foreign = await api.post(path, json={"text": "x", "via_identity_id": ids[2]})
            refused_missing = await api.post(path, json={"text": "x", "via_identity_id": 999999})
            assert refused_unproven.status_code == 409
            assert "not proven" in refused_unproven.json()["detail"]
            assert refused_foreign.status_code == refused_missing.status_code == 409
            async with runtime.db.read() as session:
                assert await session.scalar(select(func.count()).select_from(OutboxItem)) == 0

            sent = await api.post(
                path, json={"text": "Here is your invoice.", "via_identity_id": ids[0]}
            )
            assert sent.status_code == 200, sent.text
            assert sent.json()["message"]["channel"] == "email"

        [delivered] = await smtp.wait_for(1)
        assert delivered.recipients == ["jane@customer.test"]
        body = delivered.message.get_body(("plain",)).get_content()
        assert "Here is your invoice." in body
