"""Migrations go down and up again on both databases; 0007 keeps attachment bytes in a table;
0009 keeps teams whose names differ only in case."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Connection, inspect, text

from helpdesk.common.clock import FixedClock
from helpdesk.storage.attachments import AttachmentStore
from helpdesk.storage.database import Database, alembic_config


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_attachment_blobs_migration_goes_down_and_up(database_url: str, clock: FixedClock):
    db = Database(database_url)
    try:
        await db.migrate()
        store = AttachmentStore(db, clock)
        digest = await store.put(b"kept across the upgrade")
        async with db.engine.connect() as connection:
            assert "attachment_blobs" in await connection.run_sync(_tables)
            await connection.run_sync(_downgrade, "0005")
            await connection.commit()
            tables = await connection.run_sync(_tables)
        assert "attachment_blobs" not in tables and "outbox_items" in tables

        await db.migrate()
        assert await store.missing([digest]) == {digest}  # the downgrade dropped the bytes
        assert await store.get(await store.put(b"stored again")) == b"stored again"
        async with db.engine.connect() as connection:
            await connection.run_sync(_downgrade, "base")
            await connection.commit()
            assert await connection.run_sync(_tables) <= {"alembic_version"}
        await db.migrate()
    finally:
        await db.dispose()


async def test_accounts_migration_keeps_teams_that_differ_only_in_case(database_url: str):
    """0009 makes team names unique whatever their case; teams made twice before it (`agent add
    --team support` beside "Support") are kept, the later one renamed so an admin can see it."""

    db = Database(database_url)
    try:
        await db.migrate()
        async with db.engine.connect() as connection:
            await connection.run_sync(_downgrade, "0007")
            await connection.commit()
            assert "agent_sessions" not in await connection.run_sync(_tables)
            await connection.execute(
                text("INSERT INTO teams (name) VALUES ('Support'), ('support'), ('Billing')")
            )
            await connection.commit()
        await db.migrate()
        async with db.engine.connect() as connection:
            rows = (await connection.execute(text("SELECT name, name_key FROM teams"))).all()
            tables = await connection.run_sync(_tables)
        assert sorted(rows) == [
            ("Billing", "billing"),
            ("Support", "support"),
            ("support (2)", "support (2)"),
        ]
        assert {"agent_sessions", "login_attempts", "stored_secrets"} <= tables
    finally:
        await db.dispose()


ROUTING_TABLES = {
    "routing_profiles",
    "team_routing",
    "customer_managers",
    "portfolio_handovers",
    "routing_rules",
    "routing_holds",
    "routing_decisions",
}


async def test_routing_migration_goes_down_and_up(database_url: str):
    db = Database(database_url)
    try:
        await db.migrate()
        async with db.engine.connect() as connection:
            assert await connection.run_sync(_tables) >= ROUTING_TABLES
            await connection.run_sync(_downgrade, "0007")
            await connection.commit()
            tables = await connection.run_sync(_tables)
        assert not ROUTING_TABLES & tables and "tickets" in tables
        await db.migrate()
        async with db.engine.connect() as connection:
            assert await connection.run_sync(_tables) >= ROUTING_TABLES
    finally:
        await db.dispose()
