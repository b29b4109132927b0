"""Attachment bytes live in the database: every process reads what any other stored, files kept
on disk by earlier versions still go out, and a reply whose file is lost fails with the reason
instead of waiting forever."""

from __future__ import annotations

import asyncio
import hashlib

from sqlalchemy import func, select

from helpdesk.common.clock import FixedClock
from helpdesk.delivery.models import OutboxItem, OutboxStatus
from helpdesk.messages import (
    DeliveryReceipt,
    InboundMessage,
    OutboundAttachment,
    OutboundMessage,
)
from helpdesk.runtime import Runtime
from helpdesk.staff.accounts import add_agent
from helpdesk.storage.attachments import AttachmentBlob, AttachmentStore, legacy_path
from helpdesk.storage.database import Database
from helpdesk.tickets import actions as tickets
from helpdesk.tickets.models import DeliveryState, Message, Ticket

CHANNEL = "files"


class FileChannel:
    """Stands in for a service that takes files (Telegram): reads each file from the store the
    way a real adapter does, and keeps what it sent."""

    name = CHANNEL

    def __init__(self, store: AttachmentStore) -> None:
        self._store = store
        self.sent: list[tuple[int, dict[str, bytes]]] = []

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        files = {f.filename: await self._store.get(f.sha256) for f in message.attachments}
        self.sent.append((message.message_id, files))
        return DeliveryReceipt(delivered=True)


async def reply_with(runtime: Runtime, files: list[OutboundAttachment]) -> int:
    """A customer writes on the file channel; an agent answers with `files`. The message id."""
    receipt = await runtime.intake.receive(
        InboundMessage(channel=CHANNEL, external_id="in-1", sender="cust-1", text="the invoice?")
    )
    async with runtime.db.transaction() as session:
        agent = await add_agent(
            session,
            email="a@example.test",
            name="Ann",
            password="password1",
            now=runtime.clock.now(),
        )
        ticket = await session.get(Ticket, receipt.ticket_id)
        outcome = await tickets.reply(
            session, agent, ticket, "here it is", now=runtime.clock.now(), attachments=files
        )
    return outcome.message.id


async def delivery_of(runtime: Runtime, message_id: int) -> tuple[DeliveryState, str | None, int]:
    async with runtime.db.read() as session:
        message = await session.get(Message, message_id)
        item = await session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
    return message.delivery_state, message.delivery_error, item.attempts


def attachment(name: str, data: bytes) -> OutboundAttachment:
    return OutboundAttachment(name, "application/pdf", hashlib.sha256(data).hexdigest(), len(data))


async def test_a_reply_whose_file_is_lost_fails_once_with_the_reason(runtime: Runtime):
    await runtime.outbox.stop()
    channel = FileChannel(runtime.attachments)
    runtime.adapters[CHANNEL] = channel
    kept = b"%PDF kept"
    await runtime.attachments.put(kept)
    message_id = await reply_with(
        runtime, [attachment("terms.pdf", kept), attachment("invoice.pdf", b"%PDF never stored")]
    )

    assert await runtime.outbox.deliver_due() == 1
    state, error, attempts = await delivery_of(runtime, message_id)
    assert (state, attempts) == (DeliveryState.FAILED, 1)
    assert error == "the reply cannot be sent: its file(s) invoice.pdf are no longer stored"
    assert channel.sent == []  # not even the text went out without its file
    assert await runtime.outbox.deliver_due() == 0


async def test_files_from_earlier_versions_are_sent_and_copied_into_the_database(
    runtime: Runtime, clock: FixedClock
):
    """Before migration 0007 the bytes were files under the data dir: nothing is lost."""
    await runtime.outbox.stop()
    channel = FileChannel(runtime.attachments)
    runtime.adapters[CHANNEL] = channel
    old, tampered = b"%PDF written by 0.x", b"%PDF original"
    root = runtime.attachments.legacy_root
    assert root is not None
    for data, on_disk in ((old, old), (tampered, b"%PDF changed on disk")):
        path = legacy_path(root, hashlib.sha256(data).hexdigest())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(on_disk)
    good = await reply_with(runtime, [attachment("old.pdf", old)])

    assert await runtime.outbox.deliver_due() == 1
    assert channel.sent == [(good, {"old.pdf": old})]
    assert (await delivery_of(runtime, good))[0] == DeliveryState.DELIVERED
    # Copied in: a process with another data dir (or none) reads it from the database.
    other_db = Database(runtime.db.url)
    try:
        assert await AttachmentStore(other_db, clock).get(hashlib.sha256(old).hexdigest()) == old
    finally:
        await other_db.dispose()
    # A file whose bytes no longer match its name is not sent as if it were that file.
    changed = hashlib.sha256(tampered).hexdigest()
    assert await runtime.attachments.missing([changed]) == {changed}


async def test_two_processes_storing_the_same_file_at_once_keep_one_copy(
    runtime: Runtime, clock: FixedClock
):
    other_db = Database(runtime.db.url)
    other = AttachmentStore(other_db, clock)
    data = b"same logo in every mail" * 1000
    try:
        digests = await asyncio.gather(
            *(store.put_many([data, b"x", data]) for store in (runtime.attachments, other) * 3)
        )
        assert len(set(digests)) == 1
        assert await other.get(digests[0][0]) == data
        async with runtime.db.read() as session:
            rows = await session.scalar(select(func.count()).select_from(AttachmentBlob))
        assert rows == 2
    finally:
        await other_db.dispose()


async def test_a_lost_file_found_only_at_send_time_fails_for_good(runtime: Runtime):
    """The store loses the file between the check and the send (an operator deleting rows):
    the adapter's read fails and the reply fails with the reason, not retried forever."""
    await runtime.outbox.stop()
    data = b"%PDF deleted mid-send"
    await runtime.attachments.put(data)
    store = runtime.attachments

    class DeletingChannel(FileChannel):
        async def send(self, message: OutboundMessage) -> DeliveryReceipt:
            async with runtime.db.transaction() as session:
                await session.execute(AttachmentBlob.__table__.delete())
            return await super().send(message)

    runtime.adapters[CHANNEL] = DeletingChannel(store)
    message_id = await reply_with(runtime, [attachment("gone.pdf", data)])
    assert await runtime.outbox.deliver_due() == 1
    state, error, attempts = await delivery_of(runtime, message_id)
    assert (state, attempts) == (DeliveryState.FAILED, 1)
    assert error is not None and hashlib.sha256(data).hexdigest() in error
    async with runtime.db.read() as session:
        item = await session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
    assert item.status == OutboxStatus.FAILED
