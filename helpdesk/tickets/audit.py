"""The audit trail: one row for every change to a ticket, written in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.tickets.models import AuditEntry, AuthorType


def record(
    session: AsyncSession,
    *,
    at: datetime,
    actor_type: AuthorType,
    actor_id: int | None,
    ticket_id: int | None,
    action: str,
    **detail: Any,
) -> None:
    session.add(
        entry(
            at=at,
            actor_type=actor_type,
            actor_id=actor_id,
            ticket_id=ticket_id,
            action=action,
            **detail,
        )
    )


def entry(
    *,
    at: datetime,
    actor_type: AuthorType,
    actor_id: int | None,
    ticket_id: int | None,
    action: str,
    **detail: Any,
) -> AuditEntry:
    """The row `record` adds, for a caller that inserts it itself (`storage/rows.py`)."""
    return AuditEntry(
        at=at,
        actor_type=actor_type,
        actor_id=actor_id,
        ticket_id=ticket_id,
        action=action,
        detail=detail,
    )


def automatic(
    session: AsyncSession,
    actor_type: AuthorType,
    *,
    at: datetime,
    ticket_id: int | None,
    action: str,
    **detail: Any,
) -> None:
    """A decision the helpdesk took by itself (the bot, the system): no person is the actor,
    and `detail` should say why in words a supervisor can read."""
    record(
        session,
        at=at,
        actor_type=actor_type,
        actor_id=None,
        ticket_id=ticket_id,
        action=action,
        **detail,
    )
