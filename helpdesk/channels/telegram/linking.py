"""One-time codes that link a Telegram account to a customer already known on another channel.

An agent creates a code for a customer; the customer opens `t.me/<bot>?start=<code>`, Telegram
sends `/start <code>`, and the Telegram identity (with its tickets) joins that customer. Only a
hash of each code is stored; a code works once and expires.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.telegram import CHANNEL
from helpdesk.channels.telegram.models import TelegramLinkCode, TelegramStaffCode
from helpdesk.customers import identities
from helpdesk.storage.database import rows_matched

# Telegram allows 1-64 characters A-Z a-z 0-9 _ - in a start parameter; 16 bytes of randomness
# make 22 of them.
CODE_BYTES = 16


class LinkResult(enum.StrEnum):
    LINKED = "linked"
    ALREADY_LINKED = "already_linked"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    # A member of staff linked their own account for escalation notices (`staff_linking.py`).
    STAFF_LINKED = "staff_linked"


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str
    expires_at: datetime


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def looks_like_code(text: str) -> bool:
    return 16 <= len(text) <= 64 and all(c.isalnum() or c in "_-" for c in text)


async def issue_code(
    session: AsyncSession,
    customer_id: int,
    *,
    agent_id: int | None,
    now: datetime,
    lifetime: timedelta,
) -> IssuedCode:
    code = secrets.token_urlsafe(CODE_BYTES)
    session.add(
        TelegramLinkCode(
            code_hash=hash_code(code),
            customer_id=customer_id,
            created_by=agent_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return IssuedCode(code, now + lifetime)


async def spend(
    session: AsyncSession,
    model: type[TelegramLinkCode | TelegramStaffCode],
    code_id: int,
    now: datetime,
) -> bool:
    """Mark a code used, guarded by `used_at IS NULL`, so that of two redemptions at once one
    wins and the other is told the code was used."""
    spent = await session.execute(
        update(model)
        .where(model.id == code_id, model.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_matched(spent) > 0


async def redeem_code(
    session: AsyncSession,
    code: str,
    *,
    address: str,
    display_name: str,
    username: str | None,
    now: datetime,
) -> LinkResult:
    """Link the Telegram user `address` to the code's customer, in the caller's transaction."""
    link = await session.scalar(
        select(TelegramLinkCode)
        .where(TelegramLinkCode.code_hash == hash_code(code))
        .with_for_update()
    )
    if link is None:
        return LinkResult.UNKNOWN
    if link.used_at is not None:
        return LinkResult.USED
    if link.expires_at <= now:
        return LinkResult.EXPIRED
    if not await spend(session, TelegramLinkCode, link.id, now):
        return LinkResult.USED
    outcome = await identities.attach(
        session,
        link.customer_id,
        CHANNEL,
        address,
        display_name=display_name,
        username=username,
        now=now,
        reason="the customer opened a Telegram link code issued for this customer",
    )
    return LinkResult.ALREADY_LINKED if outcome == "already" else LinkResult.LINKED
