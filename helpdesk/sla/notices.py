"""Escalation notices to the staff they name, by every notifier configured (email, and
Telegram for staff who linked it).

A notice waits until its `notify_after` (the next business moment, unless the policy says to send
at any hour). The scheduler claims due escalations like due timers, sends, and marks them
notified in the same transaction; a crash between the send and the commit sends that notice
again once, which beats losing it. A failing notifier is retried a minute later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.sla.models import Escalation
from helpdesk.staff.models import Agent

log = logging.getLogger(__name__)
RETRY_AFTER = timedelta(minutes=1)
_TITLES = {
    "warning": "SLA warning",
    "breach": "SLA breached",
    "further": "SLA breach still open",
    "repeat_complaint": "Repeated complaint",
}


class StaffNotifier(Protocol):
    """One way a notice reaches a member of staff. It reads what it needs about the agent (their
    linked Telegram account, say) in `session`, and does nothing for an agent it cannot reach."""

    name: str

    async def notify(
        self, session: AsyncSession, agent: Agent, subject: str, text: str
    ) -> None: ...


async def next_due(session: AsyncSession) -> datetime | None:
    due: datetime | None = await session.scalar(
        select(func.min(Escalation.notify_after)).where(Escalation.notified_at.is_(None))
    )
    return due


async def send_due(
    session: AsyncSession,
    notifiers: Sequence[StaffNotifier],
    *,
    now: datetime,
    limit: int,
    is_sqlite: bool,
    public_url: str,
) -> int:
    query = (
        select(Escalation)
        .where(Escalation.notify_after <= now, Escalation.notified_at.is_(None))
        .order_by(Escalation.notify_after)
        .limit(limit)
    )
    if not is_sqlite:
        query = query.with_for_update(skip_locked=True)
    due = list(await session.scalars(query))
    for escalation in due:
        agents = list(
            await session.scalars(
                select(Agent).where(Agent.id.in_(escalation.recipients), Agent.active)
            )
        )
        title = _TITLES.get(escalation.level, escalation.level)
        subject = f"[{title}] ticket #{escalation.ticket_id}"
        text = (
            f"{escalation.reason}.\n\nTicket #{escalation.ticket_id}: "
            f"{public_url}/api/tickets/{escalation.ticket_id}\n"
            f"Acknowledge: POST {public_url}/api/escalations/{escalation.id}/acknowledge\n"
        )
        try:
            for agent in agents:
                for notifier in notifiers:
                    await notifier.notify(session, agent, subject, text)
        except Exception as exc:
            log.warning("escalation %s: notice not sent, retried later: %s", escalation.id, exc)
            escalation.notify_after = now + RETRY_AFTER
            continue
        escalation.notified_at = now
    return len(due)
