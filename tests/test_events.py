"""The durable event log and its dispatcher: events commit with their change, each reaction
handles each event once, in order, with its own checkpoint, and a failing event is set aside."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.clock import FixedClock
from helpdesk.events.dispatcher import (
    REACTIONS_LEASE_NAMESPACE,
    DispatchSettings,
    EventDispatcher,
)
from helpdesk.events.reactions import Reaction
from helpdesk.events.types import MessageReceived, TicketCreated
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.storage.event_log import (
    ReactionCheckpoint,
    ReactionFailure,
    StoredEvent,
    record,
)
from helpdesk.tickets import audit
from helpdesk.tickets.models import AuditEntry, AuthorType, Ticket


def chat(client_id: str, text: str) -> InboundMessage:
    return InboundMessage(channel="webchat", external_id=f"v1:{client_id}", sender="v1", text=text)


async def stored_events(runtime: Runtime) -> list[tuple[str, dict[str, object]]]:
    async with runtime.db.read() as session:
        rows = await session.execute(
            select(StoredEvent.type, StoredEvent.payload).order_by(StoredEvent.id)
        )
        return [(row.type, row.payload) for row in rows]


async def marks(runtime: Runtime, action: str) -> list[dict[str, object]]:
    async with runtime.db.read() as session:
        entries = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
        return [entry.detail for entry in entries]


def marker(name: str, *, fail_on: set[int] | None = None) -> Reaction:
    """A reaction whose effect is visible: an audit row per event, in the reaction's
    transaction. `fail_on` message ids raise instead."""

    async def handle(session: AsyncSession, event: MessageReceived) -> None:
        if fail_on and event.message_id in fail_on:
            raise RuntimeError(f"cannot handle message {event.message_id}")
        audit.record(
            session,
            at=datetime.now(UTC),
            actor_type=AuthorType.SYSTEM,
            actor_id=None,
            ticket_id=event.ticket_id,
            action=name,
            message_id=event.message_id,
        )

    return Reaction(name, handle)


@pytest_asyncio.fixture
async def dispatchers(runtime: Runtime) -> AsyncIterator[list[EventDispatcher]]:
    started: list[EventDispatcher] = []
    yield started
    for dispatcher in started:
        await dispatcher.stop()


async def start(
    runtime: Runtime, started: list[EventDispatcher], *reactions: Reaction
) -> EventDispatcher:
    settings = DispatchSettings(first_retry_seconds=0.01, attempts=3, poll_seconds=0.2)
    dispatcher = EventDispatcher(
        runtime.db, runtime.clock, {MessageReceived: list(reactions)}, settings
    )
    await dispatcher.start()
    started.append(dispatcher)
    return dispatcher


async def test_intake_writes_its_events_in_the_same_transaction(runtime: Runtime):
    receipt = await runtime.intake.receive(chat("1", "hello"))
    events = await stored_events(runtime)
    assert [name for name, _ in events] == ["TicketCreated", "MessageReceived"]
    received = events[1][1]
    assert received["message_id"] == receipt.message_id
    assert received["opened_ticket"] is True


async def test_a_transaction_that_rolls_back_leaves_no_event(runtime: Runtime):
    receipt = await runtime.intake.receive(chat("1", "hello"))
    # Reactions record events of their own (SLA timers): let them finish before counting.
    await runtime.events.idle()
    before = await stored_events(runtime)
    with pytest.raises(RuntimeError):
        async with runtime.db.transaction() as session:
            record(session, TicketCreated(receipt.ticket_id, receipt.customer_id, "webchat"))
            raise RuntimeError("the change failed")
    assert await stored_events(runtime) == before


async def test_each_reaction_handles_each_event_once_in_order(
    runtime: Runtime, dispatchers: list[EventDispatcher]
):
    dispatcher = await start(runtime, dispatchers, marker("first"), marker("second"))
    ids = [
        (await runtime.intake.receive(chat(str(n), f"message {n}"))).message_id for n in range(5)
    ]
    await dispatcher.idle()
    assert [m["message_id"] for m in await marks(runtime, "first")] == ids
    assert [m["message_id"] for m in await marks(runtime, "second")] == ids


async def test_a_new_reaction_starts_at_the_end_of_the_log(
    runtime: Runtime, dispatchers: list[EventDispatcher]
):
    await runtime.intake.receive(chat("1", "before the reaction existed"))
    dispatcher = await start(runtime, dispatchers, marker("late"))
    later = await runtime.intake.receive(chat("2", "after"))
    await dispatcher.idle()
    assert [m["message_id"] for m in await marks(runtime, "late")] == [later.message_id]


async def test_a_declined_event_costs_the_handler_nothing(
    runtime: Runtime, dispatchers: list[EventDispatcher]
):
    seen: list[str] = []

    async def handle(session: AsyncSession, event: MessageReceived) -> None:
        seen.append(event.text)

    reaction = Reaction("picky", handle, wanted=lambda event: "help" in event.text)
    dispatcher = await start(runtime, dispatchers, reaction)
    await runtime.intake.receive(chat("1", "hello"))
    await runtime.intake.receive(chat("2", "help me"))
    await dispatcher.idle()
    assert seen == ["help me"]


async def test_a_failing_event_is_set_aside_and_the_others_are_handled(
    runtime: Runtime, dispatchers: list[EventDispatcher]
):
    first = await runtime.intake.receive(chat("1", "fine"))
    bad = await runtime.intake.receive(chat("2", "poison"))
    last = await runtime.intake.receive(chat("3", "fine again"))
    async with runtime.db.transaction() as session:
        # Start this reaction before the three messages, so it sees them.
        session.add(
            ReactionCheckpoint(name="fragile", last_event_id=0, updated_at=runtime.clock.now())
        )
    dispatcher = await start(runtime, dispatchers, marker("fragile", fail_on={bad.message_id}))
    await dispatcher.idle()
    handled = [m["message_id"] for m in await marks(runtime, "fragile")]
    assert handled == [first.message_id, last.message_id]
    async with runtime.db.read() as session:
        failures = (await session.scalars(select(ReactionFailure))).all()
    assert [(f.reaction, f.event_type) for f in failures] == [("fragile", "MessageReceived")]
    assert f"cannot handle message {bad.message_id}" in failures[0].error


async def test_a_reaction_that_fails_once_is_retried_and_its_effect_happens_once(
    runtime: Runtime, dispatchers: list[EventDispatcher]
):
    calls: list[int] = []
    inner = marker("flaky")

    async def handle(session: AsyncSession, event: MessageReceived) -> None:
        calls.append(event.message_id)
        await inner.handle(session, event)
        if len(calls) == 1:
            raise RuntimeError("notification service down")  # after writing: rolled back

    dispatcher = await start(runtime, dispatchers, Reaction("flaky", handle))
    receipt = await runtime.intake.receive(chat("1", "hello"))
    await dispatcher.idle()
    assert calls == [receipt.message_id, receipt.message_id]
    assert [m["message_id"] for m in await marks(runtime, "flaky")] == [receipt.message_id]


# Several processes share one database on PostgreSQL only.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_dispatchers_on_one_database_share_the_work_once(
    runtime: Runtime, dispatchers: list[EventDispatcher]
):
    one = await start(runtime, dispatchers, marker("shared"))
    two = await start(runtime, dispatchers, marker("shared"))
    ids = [
        (await runtime.intake.receive(chat(str(n), f"message {n}"))).message_id for n in range(30)
    ]
    await asyncio.gather(one.idle(), two.idle())
    assert [m["message_id"] for m in await marks(runtime, "shared")] == ids
    # One of the two runs the reaction, the other only waits for its lease.
    assert await lease_holders(runtime, "shared") == 1


async def lease_holders(runtime: Runtime, reaction: str) -> int:
    """Connections holding the reaction's advisory lock, as PostgreSQL lists them."""
    async with runtime.db.read() as session:
        held = await session.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = :namespace AND objid = :key AND objsubid = 2"
            ),
            {"namespace": REACTIONS_LEASE_NAMESPACE, "key": zlib.crc32(reaction.encode())},
        )
    return int(held or 0)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_when_the_process_running_a_reaction_stops_another_takes_it_over(
    runtime: Runtime, dispatchers: list[EventDispatcher]
):
    """One process at a time runs a reaction (its advisory lock); the others take over."""
    one = await start(runtime, dispatchers, marker("handed_on"))
    first = await runtime.intake.receive(chat("1", "before"))
    await one.idle()
    two = await start(runtime, dispatchers, marker("handed_on"))
    await one.stop()
    dispatchers.remove(one)
    later = [(await runtime.intake.receive(chat(str(n), "after"))).message_id for n in (2, 3)]
    async with asyncio.timeout(10):
        await two.idle()
    handled = [m["message_id"] for m in await marks(runtime, "handed_on")]
    assert handled == [first.message_id, *later]
    assert await lease_holders(runtime, "handed_on") == 1


async def test_old_handled_events_are_pruned(runtime: Runtime, clock: FixedClock):
    await runtime.intake.receive(chat("1", "hello"))
    await runtime.events.idle()
    assert await runtime.events.prune() == 0  # handled, but not old yet
    clock.advance(timedelta(days=4))
    assert await runtime.events.prune() == 2
    async with runtime.db.read() as session:
        left = set(await session.scalars(select(StoredEvent.type)))
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 1
    # What a reaction recorded while handling them (the SLA timers moved) waits until every
    # reaction has passed it too.
    assert left <= {"SlaTimersChanged"}
