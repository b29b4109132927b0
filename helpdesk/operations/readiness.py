"""Readiness: can this process do its work right now? Each check answers with a reason, so an
operator reading `GET /api/ready` (or a load balancer's log) knows what to fix.

Liveness (`/api/health`) only says the process answers; restart it when that fails. Readiness
says whether to send it traffic and whether to page someone.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text

from helpdesk.delivery.models import OutboxItem, OutboxStatus

if TYPE_CHECKING:
    from helpdesk.runtime import Runtime

DATABASE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


async def readiness(rt: Runtime) -> dict[str, Any]:
    checks = [await _database(rt)]
    if checks[0].ok:
        checks.append(await _outbox(rt))
    checks += [_mailbox(rt, worker) for worker in rt.email.workers]
    if rt.settings.telegram.token:
        checks.append(_telegram(rt))
    if not rt.started:
        checks.append(Check("process", False, "starting or shutting down"))
    return {"ready": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}


async def _database(rt: Runtime) -> Check:
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS), rt.db.read() as session:
            await session.execute(text("SELECT 1"))
    except TimeoutError:
        return Check("database", False, f"no answer within {DATABASE_TIMEOUT_SECONDS:.0f} s")
    except Exception as exc:
        return Check("database", False, f"{type(exc).__name__}: {exc}"[:300])
    return Check("database", True, rt.db.engine.dialect.name)


async def _outbox(rt: Runtime) -> Check:
    async with rt.db.read() as session:
        waiting, oldest = (
            await session.execute(
                select(func.count(), func.min(OutboxItem.created_at)).where(
                    OutboxItem.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING))
                )
            )
        ).one()
    if not waiting:
        return Check("outbox", True, "no reply waiting")
    age = _age(oldest, rt.clock.now())
    limit = rt.settings.operations.ready_outbox_max_age_seconds
    if age > limit:
        return Check(
            "outbox",
            False,
            f"{waiting} replies waiting, the oldest for {age:.0f} s (limit {limit:.0f} s); "
            "see GET /api/outbox",
        )
    return Check("outbox", True, f"{waiting} replies waiting, the oldest for {age:.0f} s")


def _mailbox(rt: Runtime, worker: Any) -> Check:
    name = f"mailbox:{worker.mailbox.name}"
    status = worker.status
    if status.connected:
        return Check(name, True, "connected" + (", idle" if status.idle else ""))
    reason = status.last_error or "not connected yet"
    return Check(name, False, f"not connected to {worker.mailbox.host}: {reason}")


def _telegram(rt: Runtime) -> Check:
    channel = rt.telegram
    if channel is None:
        return Check("telegram", False, "the Telegram channel is still loading or failed to load")
    state = channel.state
    if not state.running:
        return Check("telegram", False, f"not running: {state.last_error or 'setting up'}")
    # In webhook mode Telegram calls in: only polling has a call of ours that must keep working
    # (a failing send shows in the outbox check).
    if state.failing and state.mode == "polling":
        return Check("telegram", False, f"last call failed: {state.last_error}")
    return Check("telegram", True, f"{state.mode}, bot @{state.bot_username}")


def _age(value: datetime | None, now: datetime) -> float:
    if value is None:
        return 0.0
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return max(0.0, (now - value).total_seconds())
