"""Shared pieces of the tests of tickets agents open: a runtime with the staff, API calls."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from helpdesk.delivery.models import OutboxItem
from helpdesk.runtime import Runtime
from helpdesk.storage.event_log import StoredEvent


async def ids_by_name(api: httpx.AsyncClient) -> dict[str, int]:
    """Teams by name and agents by email, as the API lists them."""
    teams = (await api.get("/api/teams")).json()
    agents = (await api.get("/api/agents")).json()
    return {t["name"]: t["id"] for t in teams} | {a["email"]: a["id"] for a in agents}


async def open_ticket(api: httpx.AsyncClient, **body: Any) -> httpx.Response:
    body.setdefault("subject", "Called about the invoice")
    body.setdefault(
        "message",
        {
            "channel": "phone",
            "direction": "in",
            "text": "Asked about March",
            "duration_seconds": 90,
        },
    )
    return await api.post("/api/tickets", json=body)


async def outbox_items(runtime: Runtime) -> list[tuple[str, int]]:
    async with runtime.db.read() as session:
        rows = await session.execute(select(OutboxItem.channel, OutboxItem.message_id))
        return [(row.channel, row.message_id) for row in rows]


async def event_types(runtime: Runtime) -> list[tuple[str, dict[str, Any]]]:
    async with runtime.db.read() as session:
        rows = await session.execute(
            select(StoredEvent.type, StoredEvent.payload).order_by(StoredEvent.id)
        )
        return [(row.type, row.payload) for row in rows]


async def count(runtime: Runtime, model: type, *where: Any) -> int:
    async with runtime.db.read() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0
