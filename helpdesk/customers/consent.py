"""Recording and reading consent to proactive messages (`consent_models.Consent`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.consent_models import CONSENT_SOURCES, Consent
from helpdesk.tickets import audit
from helpdesk.tickets.models import AuthorType

# Channels a proactive message can go out on; phone and visit are people's own doing.
CONSENT_CHANNELS = ("email", "telegram", "webchat")
NOTE_LENGTH = 2000


class ConsentError(ValueError):
    """The consent cannot be recorded as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class ConsentState:
    """Where a customer stands on one channel: the latest record, if any."""

    channel: str
    granted: bool
    at: datetime | None = None
    source: str | None = None
    agent_id: int | None = None
    note: str = ""


async def record_consent(
    session: AsyncSession,
    customer_id: int,
    channel: str,
    granted: bool,
    *,
    now: datetime,
    source: str,
    agent_id: int | None = None,
    note: str = "",
) -> Consent:
    """Add a grant or a withdrawal, and its audit entry, to the caller's transaction."""
    if channel not in CONSENT_CHANNELS:
        raise ConsentError(f"consent is recorded for one of {', '.join(CONSENT_CHANNELS)}")
    if source not in CONSENT_SOURCES:
        raise ConsentError(f"the source is one of {', '.join(CONSENT_SOURCES)}")
    row = Consent(
        customer_id=customer_id,
        channel=channel,
        granted=granted,
        at=now,
        source=source,
        agent_id=agent_id,
        note=note.strip()[:NOTE_LENGTH],
    )
    session.add(row)
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.AGENT if agent_id is not None else AuthorType.CUSTOMER,
        actor_id=agent_id,
        ticket_id=None,
        action="customer.consent_granted" if granted else "customer.consent_withdrawn",
        customer_id=customer_id,
        channel=channel,
        source=source,
    )
    return row


async def consent_history(session: AsyncSession, customer_id: int) -> list[Consent]:
    """Every grant and withdrawal, oldest first."""
    rows = await session.scalars(
        select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.id)
    )
    return list(rows)


def current(history: list[Consent]) -> dict[str, ConsentState]:
    """The state on every consent channel: the latest record, or not granted."""
    states = {channel: ConsentState(channel, False) for channel in CONSENT_CHANNELS}
    for row in history:  # oldest first: the latest wins
        states[row.channel] = ConsentState(
            row.channel, row.granted, row.at, row.source, row.agent_id, row.note
        )
    return states


async def has_consent(session: AsyncSession, customer_id: int, channel: str) -> bool:
    latest = await session.scalar(
        select(Consent.granted)
        .where(Consent.customer_id == customer_id, Consent.channel == channel)
        .order_by(Consent.id.desc())
        .limit(1)
    )
    return bool(latest)
