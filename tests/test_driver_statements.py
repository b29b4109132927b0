"""The hot paths' shortcuts past SQLAlchemy's execution give what SQLAlchemy would have given:
`among` finds the same rows as an IN list at every batch size, `driver_statement.fetch` the
same rows as `execute` (and the same IntegrityError), and a one-statement write refuses a
connection inside a transaction, where its rows would wait for a commit nobody sends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from helpdesk.customers.lookup import new_customer, new_identity
from helpdesk.customers.models import Customer, Identity
from helpdesk.storage import driver_statement, one_statement
from helpdesk.storage.among import among
from helpdesk.storage.base import table_of
from helpdesk.storage.database import Database
from tests.support.postgres import PostgresServer

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


async def _customers(db: Database, count: int) -> list[int]:
    """Customers who called from +15550000000, +15550000001, ..."""
    async with db.transaction() as session:
        ids = []
        for n in range(count):
            phone = f"+1555{n:07d}"
            customer = new_customer("phone", phone, name="", now=NOW)
            session.add(customer)
            await session.flush()
            session.add(new_identity(customer.id, "phone", phone, name="", now=NOW))
            ids.append(customer.id)
        return ids


async def test_among_finds_what_an_in_list_finds_at_every_size(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate()
        ids = await _customers(db, 40)
        async with db.lookup() as session:
            for wanted in ([], ids[:1], ids[3:20], [*ids[::3], 10**9]):
                found = await session.scalars(
                    select(Customer.id).where(among(session, Customer.id, wanted))
                )
                assert sorted(found) == sorted(i for i in wanted if i in ids)
    finally:
        await db.dispose()


async def test_a_driver_statement_reads_what_sqlalchemy_reads(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate()
        ids = await _customers(db, 5)
        query = select(table_of(Customer).c.id, table_of(Customer).c.tier).where(
            table_of(Customer).c.id >= ids[2]
        )
        async with db.lookup() as session:
            connection = await session.connection()
            expected = [tuple(row) for row in await connection.execute(query)]
            rows = await driver_statement.fetch(connection, query, {})
        assert [tuple(row) for row in rows] == expected
        assert len(expected) == 3
    finally:
        await db.dispose()


async def test_a_one_statement_write_keeps_the_constraints_and_needs_autocommit(
    postgres: PostgresServer,
) -> None:
    # PostgreSQL's only: SQLite writes everything in transactions.
    db = Database(postgres.create_database(f"one_statement_{uuid.uuid4().hex[:8]}"))
    try:
        await db.migrate()
        [customer_id] = await _customers(db, 1)
        taken = new_identity(customer_id, "phone", "+15550000000", name="", now=NOW)
        async with db.autocommit_session() as session:
            connection = await session.connection()
            with pytest.raises(IntegrityError):
                # The address is the customer's already (`_customers`): unique per channel.
                await one_statement.insert_with_events(connection, [taken], [], NOW)
        async with db.transaction() as session:
            connection = await session.connection()
            fresh = new_identity(customer_id, "email", "x@example.test", name="", now=NOW)
            with pytest.raises(RuntimeError, match="autocommit"):
                await one_statement.insert_with_events(connection, [fresh], [], NOW)
        async with db.lookup() as session:
            addresses = await session.scalars(
                select(Identity.address).where(Identity.customer_id == customer_id)
            )
            assert list(addresses) == ["+15550000000"]
    finally:
        await db.dispose()
