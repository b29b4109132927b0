"""The outbox: a committed reply is delivered once, through outages, crashes and rival workers.

`ScriptedChannel` stands in for an external service (an SMTP server, Telegram): it implements the
adapter contract and fails when the test says so. Everything on our side is the real code.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from helpdesk.common.clock import FixedClock
from helpdesk.delivery.models import OutboxItem, OutboxStatus
from helpdesk.delivery.waiting import REPORT_AFTER
from helpdesk.delivery.worker import OutboxWorker
from helpdesk.messages import DeliveryError, DeliveryReceipt, InboundMessage, OutboundMessage
from helpdesk.runtime import Runtime
from helpdesk.staff.accounts import add_agent
from helpdesk.tickets import actions as tickets
from helpdesk.tickets.models import DeliveryState, Message, Ticket

CHANNEL = "scripted"


class ScriptedChannel:
    name = CHANNEL

    def __init__(self, failures: list[DeliveryError] | None = None) -> None:
        self.failures = list(failures or [])
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        await asyncio.sleep(0)
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return DeliveryReceipt(delivered=True)


async def queue_replies(runtime: Runtime, count: int = 1) -> list[int]:
    """Customers write on the scripted channel; an agent answers each. Returns message ids."""
    receipts = [
        await runtime.intake.receive(
            InboundMessage(channel=CHANNEL, external_id=f"in-{n}", sender=f"cust-{n}", text="hi")
        )
        for n in range(count)
    ]
    ids = []
    async with runtime.db.transaction() as session:
        agent = await add_agent(
            session,
            email="a@example.test",
            name="Ann",
            password="password1",
            now=runtime.clock.now(),
        )
        for receipt in receipts:
            ticket = await session.get(Ticket, receipt.ticket_id)
            outcome = await tickets.reply(session, agent, ticket, "answer", now=runtime.clock.now())
            ids.append(outcome.message.id)
    return ids


async def state_of(
    runtime: Runtime, message_id: int
) -> tuple[DeliveryState, str | None, OutboxItem]:
    async with runtime.db.read() as session:
        message = await session.get(Message, message_id)
        item = await session.scalar(select(OutboxItem).where(OutboxItem.message_id == message_id))
    return message.delivery_state, message.delivery_error, item


def isolated_worker(runtime: Runtime, channel: ScriptedChannel) -> OutboxWorker:
    """A worker the test drives round by round (the runtime's own one is stopped)."""
    runtime.adapters[CHANNEL] = channel
    return OutboxWorker(
        runtime.db,
        runtime.clock,
        runtime.adapters,
        runtime.settings.outbox,
        runtime.attachments,
    )


async def test_a_reply_is_delivered_promptly_by_the_running_worker(runtime: Runtime):
    channel = ScriptedChannel()
    runtime.adapters[CHANNEL] = channel
    [message_id] = await queue_replies(runtime)
    for _ in range(200):
        if channel.sent:
            break
        await asyncio.sleep(0.01)
    [sent] = channel.sent
    assert (sent.message_id, sent.recipient, sent.author_name) == (message_id, "cust-0", "Ann")
    for _ in range(100):
        state, _, item = await state_of(runtime, message_id)
        if state == DeliveryState.DELIVERED:
            break
        await asyncio.sleep(0.01)
    assert state == DeliveryState.DELIVERED and item.status == OutboxStatus.DONE


async def test_an_outage_delays_the_reply_with_growing_backoff_then_sends_it_once(
    runtime: Runtime, clock: FixedClock
):
    await runtime.outbox.stop()
    channel = ScriptedChannel([DeliveryError("connection refused")] * 3)
    worker = isolated_worker(runtime, channel)
    [message_id] = await queue_replies(runtime)
    delays = []
    for _ in range(3):
        assert await worker.deliver_due() == 1
        state, error, item = await state_of(runtime, message_id)
        assert state == DeliveryState.PENDING and error == "connection refused"
        delays.append((item.next_attempt_at - clock.now()).total_seconds())
        assert await worker.deliver_due() == 0  # not due yet: nothing is hammered
        clock.advance(item.next_attempt_at - clock.now())
    assert delays[0] < delays[1] < delays[2]  # 1 s, 2 s, 4 s, each with ±20% jitter
    assert await worker.deliver_due() == 1
    state, error, item = await state_of(runtime, message_id)
    assert (state, error, item.status, item.attempts) == (
        DeliveryState.DELIVERED,
        None,
        OutboxStatus.DONE,
        4,
    )
    assert len(channel.sent) == 1


async def test_a_permanent_failure_is_shown_on_the_message_and_not_retried(runtime: Runtime):
    await runtime.outbox.stop()
    channel = ScriptedChannel([DeliveryError("bot was blocked by the user", permanent=True)])
    worker = isolated_worker(runtime, channel)
    [message_id] = await queue_replies(runtime)
    await worker.deliver_due()
    state, error, item = await state_of(runtime, message_id)
    assert (state, error, item.status) == (
        DeliveryState.FAILED,
        "bot was blocked by the user",
        OutboxStatus.FAILED,
    )
    runtime.clock.advance(timedelta(days=1))
    assert await worker.deliver_due() == 0 and channel.sent == []


async def test_retries_stop_after_the_configured_attempts(runtime: Runtime, clock: FixedClock):
    await runtime.outbox.stop()
    attempts = runtime.settings.outbox.max_attempts
    worker = isolated_worker(runtime, ScriptedChannel([DeliveryError("timeout")] * attempts))
    [message_id] = await queue_replies(runtime)
    for _ in range(attempts):
        await worker.deliver_due()
        clock.advance(timedelta(hours=1))
    state, _, item = await state_of(runtime, message_id)
    assert state == DeliveryState.FAILED and item.attempts == attempts
    assert await worker.deliver_due() == 0


async def test_a_worker_that_dies_mid_send_is_covered_by_the_lease(
    runtime: Runtime, clock: FixedClock
):
    await runtime.outbox.stop()
    channel = ScriptedChannel()
    dead = isolated_worker(runtime, channel)
    [message_id] = await queue_replies(runtime)
    # The dead worker claimed the item and then vanished without recording anything.
    claimed = await dead._claim()
    assert len(claimed) == 1
    survivor = isolated_worker(runtime, channel)
    assert await survivor.deliver_due() == 0  # the lease still holds
    clock.advance(timedelta(seconds=runtime.settings.outbox.lease_seconds + 1))
    assert await survivor.deliver_due() == 1
    assert [m.message_id for m in channel.sent] == [message_id]


async def test_rival_workers_deliver_each_reply_exactly_once(runtime: Runtime):
    await runtime.outbox.stop()
    channel = ScriptedChannel()
    workers = [isolated_worker(runtime, channel) for _ in range(3)]
    ids = await queue_replies(runtime, 60)
    for _ in range(10):
        await asyncio.gather(*(w.deliver_due() for w in workers))
    counts = Counter(m.message_id for m in channel.sent)
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}


async def test_a_reply_on_a_channel_this_process_lacks_waits_unclaimed_and_is_reported(
    runtime: Runtime, clock: FixedClock
):
    """Another process sharing the database may have the channel: this one leaves the reply
    alone (no attempt, no backoff) and says what waits, once it has waited too long."""
    await runtime.outbox.stop()
    worker = isolated_worker(runtime, ScriptedChannel())
    del runtime.adapters[CHANNEL]
    [message_id] = await queue_replies(runtime)
    assert await worker.deliver_due() == 0
    state, error, item = await state_of(runtime, message_id)
    assert (state, error, item.status, item.attempts) == (
        DeliveryState.PENDING,
        None,
        OutboxStatus.PENDING,
        0,
    )
    assert await runtime.outbox_waiting.report() == []  # just queued: not late yet
    clock.advance(REPORT_AFTER)
    [waiting] = await runtime.outbox_waiting.report()
    assert (waiting.channel, waiting.replies) == (CHANNEL, 1)

    # The channel arrives later (as Telegram does, loaded after start): the next round sends.
    channel = ScriptedChannel()
    runtime.adapters[CHANNEL] = channel
    assert await worker.deliver_due() == 1
    state, _, item = await state_of(runtime, message_id)
    assert (state, item.attempts) == (DeliveryState.DELIVERED, 1)
    assert [m.message_id for m in channel.sent] == [message_id]
    assert await runtime.outbox_waiting.report() == []
