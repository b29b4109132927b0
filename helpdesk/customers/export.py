"""Everything stored about a customer, as one ZIP file: `customer.json` (the customer, their
identities, account, consent, tickets with every message, note, rating and complaint, and the
audit entries about them) and `attachments/` (each file's bytes, named by its sha256)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.consent_models import Consent
from helpdesk.customers.models import Account, Customer, Identity, TierChange
from helpdesk.storage.base import Base
from helpdesk.tickets import audit
from helpdesk.tickets.models import (
    Attachment,
    AuditEntry,
    AuthorType,
    ComplaintResolution,
    Message,
    Ticket,
)

FORMAT_VERSION = 1
# Files read from the database per statement while the ZIP is written.
FILES_AT_ONCE = 50
# Reads stored files' bytes by their sha256; a file it cannot read is left out of the answer.
ReadFiles = Callable[[list[str]], Awaitable[dict[str, bytes]]]


class CustomerNotFound(Exception):
    """No customer with this id."""


def _row(obj: Base, *skip: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in obj.__table__.columns:
        if column.key in skip:
            continue
        value = getattr(obj, column.key)
        out[column.key] = value.isoformat() if isinstance(value, datetime) else value
    return out


async def collect(session: AsyncSession, customer_id: int) -> dict[str, Any]:
    """The export's JSON document (without the files' bytes)."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound(customer_id)
    tickets = list(
        await session.scalars(
            select(Ticket).where(Ticket.customer_id == customer_id).order_by(Ticket.id)
        )
    )
    ticket_ids = [t.id for t in tickets]
    messages = list(
        await session.scalars(
            select(Message)
            .where(or_(Message.ticket_id.in_(ticket_ids), Message.customer_id == customer_id))
            .order_by(Message.id)
        )
    )
    attachments = list(
        await session.scalars(
            select(Attachment)
            .where(Attachment.message_id.in_([m.id for m in messages]))
            .order_by(Attachment.id)
        )
    )
    files_of: dict[int, list[dict[str, Any]]] = {}
    for a in attachments:
        files_of.setdefault(a.message_id, []).append(_row(a) | {"path": f"attachments/{a.sha256}"})
    messages_of: dict[int, list[dict[str, Any]]] = {}
    for m in messages:
        messages_of.setdefault(m.ticket_id, []).append(
            _row(m) | {"attachments": files_of.get(m.id, [])}
        )
    resolutions = {
        r.ticket_id: _row(r)
        for r in await session.scalars(
            select(ComplaintResolution).where(ComplaintResolution.ticket_id.in_(ticket_ids))
        )
    }
    account = await session.get(Account, customer.account_id) if customer.account_id else None
    return {
        "format": "helpdesk customer export",
        "version": FORMAT_VERSION,
        "customer": _row(customer),
        "account": {"id": account.id, "name": account.name} if account else None,
        "identities": [
            _row(i)
            for i in await session.scalars(
                select(Identity).where(Identity.customer_id == customer_id).order_by(Identity.id)
            )
        ],
        "consent": [
            _row(c)
            for c in await session.scalars(
                select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.id)
            )
        ],
        "tier_changes": [
            _row(c)
            for c in await session.scalars(
                select(TierChange).where(TierChange.customer_id == customer_id)
            )
        ],
        "tickets": [
            _row(t)
            | {
                "messages": messages_of.get(t.id, []),
                "complaint_resolution": resolutions.get(t.id),
            }
            for t in tickets
        ],
        "ratings": [
            {"ticket_id": t.id, "score": t.satisfaction, "at": _iso(t.satisfaction_at)}
            for t in tickets
            if t.satisfaction is not None
        ],
        "audit": [_row(e) for e in await _audit_about(session, customer_id, ticket_ids)],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def _audit_about(
    session: AsyncSession, customer_id: int, ticket_ids: list[int]
) -> list[AuditEntry]:
    about_customer = or_(
        *(
            AuditEntry.detail[key].as_integer() == customer_id
            for key in ("customer_id", "source_customer_id", "target_customer_id")
        )
    )
    return list(
        await session.scalars(
            select(AuditEntry)
            .where(or_(AuditEntry.ticket_id.in_(ticket_ids), about_customer))
            .order_by(AuditEntry.id)
        )
    )


async def build_zip(document: dict[str, Any], read_files: ReadFiles) -> bytes:
    """The ZIP file of a document from `collect`; a file whose bytes are lost is listed in
    `missing_files` instead."""
    digests = sorted(
        {a["sha256"] for t in document["tickets"] for m in t["messages"] for a in m["attachments"]}
    )
    buffer = io.BytesIO()
    missing = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for start in range(0, len(digests), FILES_AT_ONCE):
            chunk = digests[start : start + FILES_AT_ONCE]
            found = await read_files(chunk)
            for digest in chunk:
                if digest in found:
                    archive.writestr(f"attachments/{digest}", found[digest])
                else:
                    missing.append(digest)
        document = document | {"missing_files": missing}
        archive.writestr("customer.json", json.dumps(document, indent=2, ensure_ascii=False))
    return buffer.getvalue()


def record_export(
    session: AsyncSession, customer_id: int, *, now: datetime, actor_id: int | None
) -> None:
    audit.record(
        session,
        at=now,
        actor_type=AuthorType.AGENT if actor_id is not None else AuthorType.SYSTEM,
        actor_id=actor_id,
        ticket_id=None,
        action="customer.exported",
        customer_id=customer_id,
    )
