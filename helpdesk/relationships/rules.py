"""The signals, as pure rules over what the scan found: each returns the task's reason in words
a manager reads, or None. Evidence a manager already closed a task over does not count again:
the scan passes only what happened after the last task of the same kind was closed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from helpdesk.relationships.settings import RelationshipSettings


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One piece of evidence: a complaint, a low rating or a reopening, on a ticket."""

    ticket_id: int
    at: datetime
    score: int | None = None


def _tickets(found: Sequence[Occurrence]) -> str:
    return ", ".join(f"#{o.ticket_id}" for o in sorted(found, key=lambda o: (o.at, o.ticket_id)))


def complaints(found: Sequence[Occurrence], settings: RelationshipSettings) -> str | None:
    if len(found) < settings.complaints:
        return None
    return (
        f"{len(found)} complaints in the last {settings.complaints_window_days} days "
        f"(tickets {_tickets(found)})"
    )


def low_satisfaction(found: Sequence[Occurrence], settings: RelationshipSettings) -> str | None:
    if len(found) < settings.low_ratings:
        return None
    scores = ", ".join(str(o.score) for o in sorted(found, key=lambda o: (o.at, o.ticket_id)))
    rated = "a rating" if len(found) == 1 else f"{len(found)} ratings"
    return (
        f"{rated} of {scores} of 5 in the last {settings.low_rating_window_days} days "
        f"(tickets {_tickets(found)})"
    )


def reopens(found: Sequence[Occurrence], settings: RelationshipSettings) -> str | None:
    if len(found) < settings.reopens:
        return None
    return (
        f"tickets reopened {len(found)} times in the last {settings.reopens_window_days} days "
        f"({_tickets(found)})"
    )


def no_contact(
    last_contact: datetime | None,
    known_since: datetime,
    now: datetime,
    settings: RelationshipSettings,
) -> str | None:
    """A key account is owed contact: nothing written either way for `no_contact_days`. A task
    closed counts as a contact (the scan passes its time as `last_contact` when later)."""
    since = last_contact or known_since
    days = (now - since).days
    if days < settings.no_contact_days:
        return None
    if last_contact is None:
        return f"key account with no contact since it became a customer {days} days ago"
    return f"key account with no contact for {days} days (last on {last_contact.date()})"
