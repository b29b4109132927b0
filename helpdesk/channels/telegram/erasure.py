"""The Telegram channel's part of erasing a customer: updates kept raw because they were not
stored as messages (they name the user), and link codes made for the customer."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.telegram.models import TelegramLinkCode, TelegramSkippedUpdate
from helpdesk.customers.content_erasure import ContentScope


async def erase_telegram(session: AsyncSession, scope: ContentScope) -> None:
    if scope.customer_id is not None:
        await session.execute(
            delete(TelegramLinkCode).where(TelegramLinkCode.customer_id == scope.customer_id)
        )
    for channel, address in scope.addresses:
        if channel != "telegram" or not address.lstrip("-").isdigit():
            continue
        user = int(address)
        candidates = await session.scalars(
            select(TelegramSkippedUpdate).where(TelegramSkippedUpdate.raw.contains(address))
        )
        for row in list(candidates):
            if _names(row.raw, user):
                await session.delete(row)


def _names(raw: str, user: int) -> bool:
    """Whether an update's JSON names `user` as a sender or a chat (a cut-off or unreadable
    one is judged by its text)."""
    try:
        update = json.loads(raw)
    except ValueError:
        return str(user) in raw
    return _walk(update, user)


def _walk(value: Any, user: int) -> bool:
    if isinstance(value, dict):
        if value.get("id") == user:
            return True
        return any(_walk(v, user) for v in value.values())
    if isinstance(value, list):
        return any(_walk(v, user) for v in value)
    return False
