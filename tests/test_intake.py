"""intake.receive(): customer by identity, duplicates dropped, the right ticket, one transaction."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from helpdesk.common.clock import FixedClock
from helpdesk.customers.models import Customer, Identity
from helpdesk.messages import InboundAttachment, InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.storage.attachments import AttachmentBlob
from helpdesk.tickets.models import Attachment, AuditEntry, Message, Ticket, TicketStatus

HOSTILE_HTML = '<p onclick="x()">hi <script>alert(1)</script><a href="javascript:x">l</a></p>'


def chat(visitor: str, client_id: str, text: str, **extra) -> InboundMessage:
    return InboundMessage(
        channel="webchat", external_id=f"{visitor}:{client_id}", sender=visitor, text=text, **extra
    )


async def count(runtime: Runtime, model) -> int:
    async with runtime.db.read() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def set_status(runtime: Runtime, ticket_id: int, status: TicketStatus) -> None:
    async with runtime.db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        ticket.status = status
        if status == TicketStatus.RESOLVED:
            ticket.resolved_at = runtime.clock.now()


async def test_first_message_creates_customer_identity_and_ticket(runtime: Runtime):
    receipt = await runtime.intake.receive(
        chat("v1", "1", "Hello\nI need a new card", sender_name="Ana")
    )
    assert receipt.new_ticket and not receipt.duplicate
    async with runtime.db.read() as session:
        ticket = await session.get(Ticket, receipt.ticket_id)
        customer = await session.get(Customer, receipt.customer_id)
        identity = await session.scalar(select(Identity))
    assert ticket.subject == "Hello" and ticket.status == TicketStatus.NEW
    assert ticket.channel == "webchat" and ticket.created_at == runtime.clock.now()
    assert customer.name == "Ana"
    assert (identity.channel, identity.address, identity.customer_id) == (
        "webchat",
        "v1",
        customer.id,
    )


async def test_the_conversation_continues_and_duplicates_are_dropped(runtime: Runtime):
    first = await runtime.intake.receive(chat("v1", "1", "one"))
    second = await runtime.intake.receive(chat("v1", "2", "two"))
    again = await runtime.intake.receive(chat("v1", "1", "one"))
    assert second.ticket_id == first.ticket_id and not second.new_ticket
    assert again.duplicate and again.message_id == first.message_id
    assert await count(runtime, Message) == 2
    assert await count(runtime, Customer) == 1


async def test_pending_ticket_reopens_to_open_when_the_customer_writes(runtime: Runtime):
    first = await runtime.intake.receive(chat("v1", "1", "one"))
    await set_status(runtime, first.ticket_id, TicketStatus.PENDING)
    await runtime.intake.receive(chat("v1", "2", "here is the info you asked for"))
    async with runtime.db.read() as session:
        assert (await session.get(Ticket, first.ticket_id)).status == TicketStatus.OPEN


async def test_resolved_ticket_reopens_within_the_window_only(runtime: Runtime, clock: FixedClock):
    first = await runtime.intake.receive(chat("v1", "1", "one"))
    await set_status(runtime, first.ticket_id, TicketStatus.RESOLVED)
    clock.advance(timedelta(hours=71))
    reopened = await runtime.intake.receive(chat("v1", "2", "it broke again"))
    assert reopened.ticket_id == first.ticket_id and reopened.reopened

    await set_status(runtime, first.ticket_id, TicketStatus.RESOLVED)
    clock.advance(timedelta(hours=73))
    fresh = await runtime.intake.receive(chat("v1", "3", "a new question"))
    assert fresh.new_ticket and fresh.ticket_id != first.ticket_id
    async with runtime.db.read() as session:
        # The SLA timers of the reopened ticket may fire meanwhile (the clock moved 73 h): only
        # the ticket's own lifecycle is under test here.
        actions = (
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.like("ticket.%"))
                .order_by(AuditEntry.id)
            )
        ).all()
        reason = await session.scalar(
            select(AuditEntry.detail).where(AuditEntry.action == "ticket.reopened")
        )
    assert actions == ["ticket.created", "ticket.reopened", "ticket.created"]
    assert reason == {"reason": "the customer wrote again within 72 h of resolution"}


async def test_a_closed_ticket_is_never_reopened(runtime: Runtime):
    first = await runtime.intake.receive(chat("v1", "1", "one"))
    await set_status(runtime, first.ticket_id, TicketStatus.CLOSED)
    later = await runtime.intake.receive(chat("v1", "2", "two"))
    assert later.new_ticket and later.ticket_id != first.ticket_id


async def test_a_ticket_hint_for_someone_elses_ticket_is_ignored(runtime: Runtime):
    victim = await runtime.intake.receive(chat("victim", "1", "my private matter"))
    stranger = await runtime.intake.receive(
        InboundMessage(
            channel="email",
            external_id="<x@evil.test>",
            sender="Stranger@Evil.test",
            text="let me in",
            ticket_hint=victim.ticket_id,
            continues_latest=False,
        )
    )
    assert stranger.new_ticket and stranger.ticket_id != victim.ticket_id
    async with runtime.db.read() as session:
        identity = await session.scalar(select(Identity).where(Identity.channel == "email"))
    assert identity.address == "stranger@evil.test"


async def test_concurrent_arrivals_are_each_stored_once(runtime: Runtime):
    """Many customers at once, each message sent twice at the same moment (a resend race)."""
    messages = [chat(f"v{n % 40}", f"m{n}", f"message {n}") for n in range(400)]
    receipts = await asyncio.gather(*(runtime.intake.receive(m) for m in messages + messages))
    originals, resends = receipts[:400], receipts[400:]
    assert [r.message_id for r in originals] == [r.message_id for r in resends]
    assert sum(r.duplicate for r in receipts) == 400
    assert await count(runtime, Message) == 400
    assert await count(runtime, Customer) == 40
    assert await count(runtime, Ticket) == 40
    assert sum(r.new_ticket for r in receipts) == 40


async def test_a_mixed_batch_is_stored_as_if_each_message_came_alone(runtime: Runtime):
    """Known and new senders, open and resolved tickets, repeats and control characters, all in
    one burst: every row points where it should and ids never mix up between tables."""
    for n in range(10):
        await runtime.intake.receive(chat(f"old{n}", "first", f"first from old{n}"))
    resolved = await runtime.intake.receive(chat("old0", "second", "thanks"))
    await set_status(runtime, resolved.ticket_id, TicketStatus.CLOSED)
    burst = [chat(f"old{n % 10}", f"b{n}", f"old again {n}") for n in range(30)]
    burst += [
        chat(f"new{n % 15}", f"b{n}", f"new \x00{n}", sender_name=f"New {n % 15}")
        for n in range(45)
    ]
    burst += burst[:5]  # resent at the same moment
    receipts = await asyncio.gather(*(runtime.intake.receive(m) for m in burst))

    async with runtime.db.read() as session:
        rows = (
            await session.execute(
                select(Message.external_id, Message.text, Message.ticket_id, Identity.address)
                .join(Identity, Identity.id == Message.identity_id)
                .join(Ticket, Ticket.id == Message.ticket_id)
                .where(Ticket.customer_id == Identity.customer_id)
            )
        ).all()
        names = dict(
            (await session.execute(select(Identity.address, Customer.name).join(Customer))).all()
        )
    by_id = {row.external_id: row for row in rows}
    assert len(rows) == 11 + 75  # every message once, each on a ticket of its own sender
    for message, receipt in zip(burst, receipts, strict=True):
        row = by_id[message.external_id]
        assert row.ticket_id == receipt.ticket_id and row.address == message.sender
        assert "\x00" not in row.text
    assert sum(r.duplicate for r in receipts) == 5
    assert names["new3"] == "New 3"
    # old0's closed ticket stays closed: its burst opened a new one; the others continued.
    tickets_of_old0 = {by_id[m.external_id].ticket_id for m in burst if m.sender == "old0"}
    assert tickets_of_old0 != {resolved.ticket_id} and len(tickets_of_old0) == 1
    assert sum(r.new_ticket for r in receipts) == 15 + 1
    assert await count(runtime, Ticket) == 10 + 15 + 1
    assert await count(runtime, Customer) == 25


async def test_a_message_after_a_pause_does_not_wait_for_the_batch_interval(runtime: Runtime):
    runtime.intake._batch_interval = 0.5  # long enough that waiting for it would show
    await runtime.intake.receive(chat("v1", "1", "hello"))
    await asyncio.sleep(0.6)
    started = asyncio.get_running_loop().time()
    await runtime.intake.receive(chat("v1", "2", "still there?"))
    assert asyncio.get_running_loop().time() - started < 0.3
    assert await count(runtime, Message) == 2


async def test_html_is_sanitised_text_cleaned_and_attachments_stored_once(runtime: Runtime):
    photo = InboundAttachment("photo.png", "image/png", b"\x89PNG fake image bytes")
    receipt = await runtime.intake.receive(
        chat(
            "v1",
            "1",
            "nul\x00 byte",
            html=HOSTILE_HTML,
            attachments=(photo, photo),
        )
    )
    async with runtime.db.read() as session:
        message = await session.get(Message, receipt.message_id)
        stored = (await session.scalars(select(Attachment))).all()
    assert message.text == "nul byte"
    assert "script" not in message.html and "onclick" not in message.html
    assert "javascript" not in message.html and "hi" in message.html
    assert len(stored) == 2 and stored[0].sha256 == stored[1].sha256
    assert await runtime.attachments.get(stored[0].sha256) == photo.data
    async with runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(AttachmentBlob)) == 1


async def test_two_new_emails_from_one_sender_in_one_batch_open_two_tickets(runtime: Runtime):
    """Email threads by hints, not by "the latest conversation": separate mails stay separate."""

    def mail(n: int) -> InboundMessage:
        return InboundMessage(
            channel="email",
            external_id=f"<{n}@example.test>",
            sender="ana@example.test",
            text=f"topic {n}",
            continues_latest=False,
        )

    receipts = await asyncio.gather(*(runtime.intake.receive(mail(n)) for n in range(3)))
    assert len({r.ticket_id for r in receipts}) == 3
    assert all(r.new_ticket for r in receipts)
    assert len({r.customer_id for r in receipts}) == 1
