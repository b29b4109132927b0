"""Group commit: concurrent writers share one transaction, each with the outcome it would have
had alone.

A writer hands `run` a unit of work (a coroutine function of the session). Units that arrive
while a batch is committing wait and go together in the next one: one transaction, one commit
(one fsync on PostgreSQL, one turn of SQLite's writer) for all of them. Each unit runs inside a
SAVEPOINT: one that raises is rolled back alone, with the events it recorded, and its caller
gets its exception; the others commit. Every caller is answered only after the commit, so a
caller that is told "done" is durable, and a caller told "conflict" (a unique constraint) that
retries sees the rows that won. Should the commit itself fail, each unit runs again alone in
its own transaction, so one bad unit never fails the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.storage.database import Database
from helpdesk.storage.event_log import record, take_recorded

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[T]]


@dataclass(slots=True)
class _Unit(Generic[T]):
    work: Work[T]
    future: asyncio.Future[T] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    outcome: tuple[bool, Any] | None = None


class GroupCommit:
    def __init__(self, db: Database, *, limit: int = 64) -> None:
        self._db = db
        self._limit = limit
        self._pending: list[_Unit[Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def run(self, work: Work[T]) -> T:
        """`work(session)`'s result once committed, or its exception (nothing of it kept)."""
        unit: _Unit[T] = _Unit(work)
        self._pending.append(unit)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return await unit.future

    async def _drain(self) -> None:
        batch: list[_Unit[Any]] = []
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._limit], self._pending[self._limit :]
                try:
                    await self._commit(batch)
                except Exception:
                    # The commit failed (the connection, the disk): each again on its own.
                    for unit in batch:
                        unit.outcome = None
                        await self._alone(unit)
                for unit in batch:
                    _answer(unit)
        finally:
            # Cancelled (shutdown) in the middle: nobody waits for ever, nobody is told "done"
            # for what was not committed.
            for unit in (*batch, *self._pending):
                if not unit.future.done():
                    unit.future.set_exception(RuntimeError("not committed: shutting down"))
            self._pending = [u for u in self._pending if not u.future.done()]

    async def _commit(self, batch: list[_Unit[Any]]) -> None:
        if len(batch) == 1:
            # Alone, its transaction is its savepoint: two statements fewer.
            await self._alone(batch[0])
            return
        async with self._db.transaction() as session:
            await self._db.ready_for_savepoints(session)
            for unit in batch:
                recorded = take_recorded(session)
                try:
                    async with session.begin_nested():
                        unit.outcome = (True, await unit.work(session))
                except Exception as exc:
                    unit.outcome = (False, exc)
                    take_recorded(session)  # the failed unit's events go with its rows
                record(session, *recorded, *take_recorded(session))

    async def _alone(self, unit: _Unit[Any]) -> None:
        try:
            async with self._db.transaction() as session:
                result = await unit.work(session)
            unit.outcome = (True, result)
        except Exception as exc:
            unit.outcome = (False, exc)


def _answer(unit: _Unit[Any]) -> None:
    if unit.future.done():  # the caller went away (a cancelled request)
        return
    assert unit.outcome is not None
    succeeded, value = unit.outcome
    if succeeded:
        unit.future.set_result(value)
    else:
        unit.future.set_exception(value)
