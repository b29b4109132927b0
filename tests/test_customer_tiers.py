"""Recomputing tiers (SQLite and PostgreSQL): two runs at once never write a change twice (nor
does a run that read before another wrote), processes on PostgreSQL take turns, the schedule
recomputes without anyone asking, and the command line does what the API does."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy import func, insert, select, text

from helpdesk.common.clock import FixedClock
from helpdesk.config import load_settings
from helpdesk.customers.models import Customer, TierChange
from helpdesk.customers.tier_recompute import (
    RECOMPUTE_LOCK_KEY,
    changes_of,
    read_units,
    write_changes,
)
from helpdesk.customers.tiering import place
from helpdesk.runtime import Runtime
from helpdesk.storage.database import Database
from tests.support.postgres import PostgresServer
from tests.test_cli import helpdesk

SECRET = "test-secret-key-that-is-long-enough-0123456789"


async def _customers(runtime: Runtime, values: list[float | None]) -> None:
    now = runtime.clock.now()
    async with runtime.db.transaction() as session:
        await session.execute(
            insert(Customer),
            [
                {"name": f"c{n}", "value": value, "created_at": now}
                for n, value in enumerate(values)
            ],
        )


async def _tiers(runtime: Runtime) -> dict[str, int]:
    async with runtime.db.read() as session:
        rows = await session.execute(select(Customer.tier, func.count()).group_by(Customer.tier))
        return dict(rows.all())  # type: ignore[arg-type]


async def _changes(runtime: Runtime) -> list[TierChange]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(TierChange).order_by(TierChange.id)))


async def test_two_runs_at_once_write_each_change_once(runtime: Runtime):
    # 100 customers worth 1..100, 5050 in all; 80% is 4040. 100 + ... + 45 (56 of them) is
    # 4060; 100 + ... + 46 (55) is 4015, short of it: 56 are key.
    await _customers(runtime, [float(v) for v in range(1, 101)])
    first, second = await asyncio.gather(runtime.tier_recompute.run(), runtime.tier_recompute.run())
    assert first is not None and second is not None
    changed = sorted([first.changed, second.changed])
    expected = 56
    assert first.tiers["key"] == expected and changed == [0, expected]
    assert len(await _changes(runtime)) == expected
    assert await _tiers(runtime) == {"key": expected, "standard": 100 - expected}


async def test_a_run_that_read_before_another_wrote_records_nothing_twice(runtime: Runtime):
    # The command beside a server on SQLite: no lock is shared, so both may read the same tiers.
    await _customers(runtime, [90.0, 5.0, 5.0])
    async with runtime.db.read() as session:
        units, stored = await read_units(session)
    stale = changes_of(place(units, runtime.settings.customers.tiers), stored)
    assert len(stale) == 1
    outcome = await runtime.tier_recompute.run()
    assert outcome is not None and outcome.changed == 1
    async with runtime.db.transaction() as session:
        assert await write_changes(session, stale, actor_id=None, now=runtime.clock.now()) == 0
    assert len(await _changes(runtime)) == 1


async def test_on_postgresql_processes_take_turns(postgres: PostgresServer, tmp_path: Path):
    url = postgres.create_database(f"tiers_{uuid.uuid4().hex[:12]}")
    settings = load_settings(data_dir=tmp_path, database_url=url, secret_key=SECRET)
    runtime = Runtime(settings)
    await runtime.start()
    other_process = Database(url)
    try:
        await _customers(runtime, [10.0, 1.0])
        async with other_process.engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": RECOMPUTE_LOCK_KEY})
            # The schedule's run leaves it to the one under way; an admin's waits its turn.
            assert await runtime.tier_recompute.run(wait=False) is None
            waiting = asyncio.create_task(runtime.tier_recompute.run())
            await asyncio.sleep(0.5)
            assert not waiting.done() and await _changes(runtime) == []
            await connection.execute(
                text("SELECT pg_advisory_unlock(:k)"), {"k": RECOMPUTE_LOCK_KEY}
            )
        outcome = await asyncio.wait_for(waiting, 10)
        assert outcome is not None and outcome.changed == 1
    finally:
        await other_process.dispose()
        await runtime.stop()


async def test_the_schedule_recomputes_without_anyone_asking(
    database_url: str, tmp_path: Path, clock: FixedClock
):
    settings = load_settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key=SECRET,
        customers={"tier_recompute_hours": 0.5 / 3600},  # every half second
    )
    runtime = Runtime(settings, clock=clock)
    await runtime.start()
    try:
        await _customers(runtime, [90.0, 5.0, 5.0, None])
        async with asyncio.timeout(15):
            while not (changes := await _changes(runtime)):
                await asyncio.sleep(0.1)
        assert [(c.to_tier, c.reason, c.actor_id) for c in changes] == [
            ("key", "pareto: top 80% of value", None)
        ]
    finally:
        await runtime.stop()


async def test_the_command_recomputes_and_says_how_many_are_in_each_tier(
    runtime: Runtime, database_url: str, tmp_path: Path
):
    await _customers(runtime, [50.0, 30.0, 10.0, 10.0, 0.0])
    done = await asyncio.to_thread(
        helpdesk,
        "customers",
        "tiers",
        "recompute",
        cwd=tmp_path,
        env={"HELPDESK_DATABASE_URL": database_url, "HELPDESK_DATA_DIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert "tiers recomputed: 5 accounts and customers (2 key, 3 standard); 2 changed" in (
        done.stdout
    )
    assert await _tiers(runtime) == {"key": 2, "standard": 3}
