"""Staff link their own Telegram account to receive escalation notices there.

A member of staff asks the API for a code, opens `t.me/<bot>?start=staff-<code>`, and Telegram
sends `/start staff-<code>`: that Telegram user becomes where their notices go. Like the
customers' link codes (`linking.py`) only a hash is kept, a code works once and expires; the
prefix keeps the two kinds apart, so a staff code never joins a customer record.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.telegram.linking import (
    CODE_BYTES,
    IssuedCode,
    LinkResult,
    hash_code,
    spend,
)
from helpdesk.channels.telegram.models import TelegramStaffCode, TelegramStaffLink
from helpdesk.storage.database import rows_matched

PREFIX = "staff-"


def is_staff_code(payload: str) -> bool:
    return payload.startswith(PREFIX) and len(payload) > len(PREFIX)


async def issue_code(
    session: AsyncSession, agent_id: int, *, now: datetime, lifetime: timedelta
) -> IssuedCode:
    code = PREFIX + secrets.token_urlsafe(CODE_BYTES)
    session.add(
        TelegramStaffCode(
            code_hash=hash_code(code),
            agent_id=agent_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return IssuedCode(code, now + lifetime)


async def redeem_code(
    session: AsyncSession, code: str, *, user_id: str, display_name: str, now: datetime
) -> LinkResult:
    """Make `user_id` where the code's agent gets notices, in the caller's transaction. A
    Telegram account serves one member of staff: linking it again moves it."""
    row = await session.scalar(
        select(TelegramStaffCode).where(TelegramStaffCode.code_hash == hash_code(code))
    )
    if row is None:
        return LinkResult.UNKNOWN
    if row.used_at is not None:
        return LinkResult.USED
    if row.expires_at <= now:
        return LinkResult.EXPIRED
    if not await spend(session, TelegramStaffCode, row.id, now):
        return LinkResult.USED
    await session.execute(
        delete(TelegramStaffLink).where(
            (TelegramStaffLink.user_id == user_id) | (TelegramStaffLink.agent_id == row.agent_id)
        )
    )
    session.add(
        TelegramStaffLink(
            agent_id=row.agent_id, user_id=user_id, display_name=display_name, linked_at=now
        )
    )
    return LinkResult.STAFF_LINKED


async def unlink(session: AsyncSession, agent_id: int) -> bool:
    result = await session.execute(
        delete(TelegramStaffLink).where(TelegramStaffLink.agent_id == agent_id)
    )
    return rows_matched(result) > 0


async def linked_user(session: AsyncSession, agent_id: int) -> TelegramStaffLink | None:
    return await session.get(TelegramStaffLink, agent_id)
