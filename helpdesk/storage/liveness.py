"""Pooled PostgreSQL connections are tested before use only after sitting idle.

`pool_pre_ping` tests every checkout; through asyncpg a test is BEGIN, an empty query and
ROLLBACK, three round trips, and a ticket opened through the API checks out several
connections (the request, each reaction's round). Measured under `bench/ticket_create.py` that
was about a fifth of PostgreSQL's statements. A connection that was used moments ago is alive
unless the server went away in between, and then the statement fails like any statement in
flight would: SQLAlchemy recognises the disconnect and invalidates the pool, so every other
connection made before it is replaced at its next checkout. A connection idle for longer (a
quiet night, a restart of PostgreSQL, a firewall dropping idle sockets) is tested first and
replaced if dead, so the first request after the pause does not fail.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

_RETURNED_AT = "helpdesk_returned_at"


def test_after_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Test a pooled connection at checkout if it has been idle at least `idle_seconds`."""
    dialect = engine.sync_engine.dialect

    def returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    def checked_out(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        # A new connection (never returned) was just made: it is alive.
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if not dialect.is_disconnect(exc, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            # The pool drops this connection and checks out another (a new one if need be).
            raise DisconnectionError("the pooled connection was closed while idle")

    event.listen(engine.sync_engine, "checkin", returned)
    event.listen(engine.sync_engine, "checkout", checked_out)
