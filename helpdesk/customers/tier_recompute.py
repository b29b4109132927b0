"""Recomputing every tier from value (`tiering.place`), in bulk, one run at a time.

A run reads every unit in one pass, places them in a thread (pure Python, so the event loop
keeps serving between its slices), then writes only the tiers that changed, a few statements
per tier, and one `tier_changes` row each with the rule's reason. Reading before the write
transaction keeps SQLite's single writer free for most of the run; each update names the tier
it read, so a row another writer changed meanwhile is left alone and recorded once. On
PostgreSQL an advisory lock keeps processes from running it twice at once; within a process
an asyncio lock does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.clock import Clock
from helpdesk.customers.models import Account, Customer, TierChange
from helpdesk.customers.settings import CustomersSettings
from helpdesk.customers.tiering import ACCOUNT, CUSTOMER, Placement, Unit, place
from helpdesk.storage.database import Database

# Any constant works; it only has to be the same in every helpdesk process.
RECOMPUTE_LOCK_KEY = 0x48544952
# Ids per UPDATE: well under SQLite's and asyncpg's limits on bound parameters.
CHUNK = 5_000


@dataclass
class Stored:
    """What a unit has now: its computed tier and its override (for the reason)."""

    tier: str | None
    override: str | None


@dataclass
class Outcome:
    units: int
    changed: int
    seconds: float
    tiers: dict[str, int] = field(default_factory=dict)
    # Seconds reading, ranking and writing (the bench prints them).
    phases: dict[str, float] = field(default_factory=dict)


async def read_units(session: AsyncSession) -> tuple[list[Unit], dict[tuple[str, int], Stored]]:
    """Every account (its value, or else what its contacts bring) and every customer outside an
    account. Core statements on the session's connection: no ORM bookkeeping per row."""
    accounts, customers = Account.__table__, Customer.__table__
    connection = await session.connection()
    contacts = (
        select(customers.c.account_id, func.sum(customers.c.value).label("brought"))
        .where(customers.c.account_id.is_not(None), customers.c.value > 0)
        .group_by(customers.c.account_id)
        .subquery()
    )
    account_rows = await connection.execute(
        select(
            accounts.c.id,
            func.coalesce(accounts.c.value, contacts.c.brought),
            accounts.c.tier,
            accounts.c.tier_override,
        ).outerjoin(contacts, contacts.c.account_id == accounts.c.id)
    )
    customer_rows = await connection.execute(
        select(
            customers.c.id, customers.c.value, customers.c.tier, customers.c.tier_override
        ).where(customers.c.account_id.is_(None))
    )
    units: list[Unit] = []
    stored: dict[tuple[str, int], Stored] = {}
    for kind, rows in ((ACCOUNT, account_rows), (CUSTOMER, customer_rows)):
        for unit_id, value, tier, override in rows:
            units.append(Unit(kind, unit_id, value))
            stored[(kind, unit_id)] = Stored(tier, override)
    return units, stored


def changes_of(
    placements: dict[tuple[str, int], Placement], stored: dict[tuple[str, int], Stored]
) -> list[tuple[tuple[str, int], Stored, Placement]]:
    return [
        (key, stored[key], placed)
        for key, placed in placements.items()
        if key in stored and stored[key].tier != placed.tier
    ]


def _reason(before: Stored, placed: Placement) -> str:
    if before.override and before.override != placed.tier:
        # The record says what the rule decided; the override keeps deciding the service.
        return f"{placed.reason}; override {before.override} still applies"
    return placed.reason


async def write_changes(
    session: AsyncSession,
    changes: Sequence[tuple[tuple[str, int], Stored, Placement]],
    *,
    actor_id: int | None,
    now: datetime,
) -> int:
    """Set the changed tiers and record each; returns how many were written. A row whose tier
    is no longer the one read (another writer got there first: a second process on SQLite, or
    the command beside a server) is left alone and not recorded, so nothing is written twice."""
    groups: dict[tuple[str, str | None, str], list[int]] = defaultdict(list)
    for (kind, unit_id), before, placed in changes:
        groups[(kind, before.tier, placed.tier)].append(unit_id)
    written: set[tuple[str, int]] = set()
    for (kind, old, new), ids in groups.items():
        key, tier = (Account.id, Account.tier) if kind == ACCOUNT else (Customer.id, Customer.tier)
        statement = update(Account) if kind == ACCOUNT else update(Customer)
        still = tier.is_(None) if old is None else tier == old
        for start in range(0, len(ids), CHUNK):
            updated = await session.scalars(
                statement.where(key.in_(ids[start : start + CHUNK]), still)
                .values(tier=new)
                .returning(key)
                .execution_options(synchronize_session=False)
            )
            written.update((kind, unit_id) for unit_id in updated)
    rows = [
        {
            "customer_id": unit_id if kind == CUSTOMER else None,
            "account_id": unit_id if kind == ACCOUNT else None,
            "from_tier": before.tier,
            "to_tier": placed.tier,
            "reason": _reason(before, placed),
            "actor_id": actor_id,
            "at": now,
        }
        for (kind, unit_id), before, placed in changes
        if (kind, unit_id) in written
    ]
    for start in range(0, len(rows), CHUNK):
        await session.execute(insert(TierChange), rows[start : start + CHUNK])
    return len(rows)


class TierRecompute:
    """`run()` recomputes every tier; the API, the CLI and the schedule call it."""

    def __init__(self, db: Database, settings: CustomersSettings, clock: Clock) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._lock = asyncio.Lock()

    async def run(self, *, actor_id: int | None = None, wait: bool = True) -> Outcome | None:
        """Recompute now. With `wait=False`, None when another run (here or in another process)
        is under way: the schedule's runs then leave it to that one."""
        async with self._only_one(wait) as mine:
            if not mine:
                return None
            return await self._recompute(actor_id)

    async def _recompute(self, actor_id: int | None) -> Outcome:
        started = time.perf_counter()
        async with self._db.read() as session:
            units, stored = await read_units(session)
        read = time.perf_counter()
        placements = await asyncio.to_thread(place, units, self._settings.tiers)
        changes = changes_of(placements, stored)
        ranked = time.perf_counter()
        changed = 0
        if changes:
            async with self._db.transaction() as session:
                changed = await write_changes(
                    session, changes, actor_id=actor_id, now=self._clock.now()
                )
        written = time.perf_counter()
        counts = Counter(placed.tier for placed in placements.values())
        return Outcome(
            units=len(units),
            changed=changed,
            seconds=written - started,
            tiers={name: counts.get(name, 0) for name in self._settings.tier_names},
            phases={"read": read - started, "rank": ranked - read, "write": written - ranked},
        )

    @contextlib.asynccontextmanager
    async def _only_one(self, wait: bool) -> AsyncIterator[bool]:
        if not wait and self._lock.locked():
            yield False
            return
        async with self._lock:
            if self._db.is_sqlite:
                yield True
                return
            # A session-level lock on a connection of its own: it outlives the transactions
            # of the run, and a process that dies lets go of it with its connection.
            async with self._db.engine.connect() as connection:
                sql = f"SELECT pg_{'' if wait else 'try_'}advisory_lock(:key)"
                got = await connection.scalar(text(sql), {"key": RECOMPUTE_LOCK_KEY})
                await connection.commit()
                mine = wait or bool(got)
                try:
                    yield mine
                finally:
                    if mine:
                        await connection.execute(
                            text("SELECT pg_advisory_unlock(:key)"), {"key": RECOMPUTE_LOCK_KEY}
                        )
                        await connection.commit()
