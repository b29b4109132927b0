"""What a batch of updates means, stored in one intake transaction (`IntakeService.unit`): the
messages, edits linked to their originals, linking codes redeemed, skipped updates with their
reasons, and the polling offset. The offset moves only with what it covers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.telegram import CHANNEL, linking, staff_linking
from helpdesk.channels.telegram.models import (
    TelegramMessageEdit,
    TelegramSkippedUpdate,
    TelegramState,
)
from helpdesk.channels.telegram.translations import Incoming, Skipped, Start, Translation
from helpdesk.customers import identities
from helpdesk.intake.batch import Receipt
from helpdesk.intake.service import IntakeUnit
from helpdesk.storage.base import table_of
from helpdesk.tickets.models import Message

RAW_LIMIT = 64 * 1024


@dataclass(slots=True)
class Committed:
    receipts: dict[int, Receipt] = field(default_factory=dict)
    links: dict[int, linking.LinkResult] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Item:
    """One update's translation, with its position and the hashes of its stored files."""

    update_id: int | None
    translation: Translation
    hashes: tuple[str, ...] = ()


async def commit_batch(
    unit: IntakeUnit, items: Sequence[Item], *, bot_id: int, next_offset: int | None
) -> Committed:
    session, now = unit.session, unit.now
    committed = Committed()
    run: list[int] = []

    async def flush() -> None:
        if run:
            await _store_messages(unit, items, run, committed)
            run.clear()

    for index, item in enumerate(items):
        translation = item.translation
        if isinstance(translation, Incoming):
            run.append(index)
        elif isinstance(translation, Start) and staff_linking.is_staff_code(translation.payload):
            await flush()
            committed.links[index] = await staff_linking.redeem_code(
                session,
                translation.payload,
                user_id=translation.sender.address,
                display_name=translation.sender.name,
                now=now,
            )
        elif isinstance(translation, Start) and linking.looks_like_code(translation.payload):
            # Other deep-link payloads (a campaign tag, say) just get the greeting.
            # Messages before the code belong to whoever the sender was before linking.
            await flush()
            committed.links[index] = await _redeem(session, translation, now)
        elif isinstance(translation, Skipped):
            session.add(
                TelegramSkippedUpdate(
                    update_id=item.update_id,
                    reason=translation.reason[:200],
                    raw=translation.raw[:RAW_LIMIT],
                    at=now,
                )
            )
    await flush()
    if next_offset is not None:
        await _advance(session, bot_id, next_offset, now)
    return committed


async def _store_messages(
    unit: IntakeUnit, items: Sequence[Item], indexes: list[int], committed: Committed
) -> None:
    session = unit.session
    incoming = [t for i in indexes if isinstance(t := items[i].translation, Incoming)]
    receipts = await unit.receive([t.message for t in incoming], [items[i].hashes for i in indexes])
    committed.receipts.update(zip(indexes, receipts, strict=True))
    latest = {s.address: s.username for s in (t.sender for t in incoming)}
    await identities.refresh(session, CHANNEL, latest)
    edits = [
        (t.edit_of, receipt.message_id)
        for t, receipt in zip(incoming, receipts, strict=True)
        if t.edit_of and not receipt.duplicate
    ]
    if edits:
        found = await session.execute(
            select(Message.external_id, Message.id).where(
                Message.channel == CHANNEL,
                Message.external_id.in_({key for key, _ in edits}),
            )
        )
        originals = {external_id: message_id for external_id, message_id in found}
        rows = [
            {"message_id": message_id, "original_id": originals[key]}
            for key, message_id in edits
            if key in originals
        ]
        if rows:
            await session.execute(insert(table_of(TelegramMessageEdit)), rows)


async def _redeem(session: AsyncSession, start: Start, now: datetime) -> linking.LinkResult:
    return await linking.redeem_code(
        session,
        start.payload,
        address=start.sender.address,
        display_name=start.sender.name,
        username=start.sender.username,
        now=now,
    )


async def _advance(session: AsyncSession, bot_id: int, next_offset: int, now: datetime) -> None:
    state = await session.get(TelegramState, bot_id, with_for_update=True)
    if state is None:
        session.add(TelegramState(bot_id=bot_id, next_offset=next_offset, updated_at=now))
    elif next_offset > state.next_offset:
        state.next_offset = next_offset
        state.updated_at = now


async def saved_offset(session: AsyncSession, bot_id: int) -> int:
    state = await session.get(TelegramState, bot_id)
    return state.next_offset if state else 0
