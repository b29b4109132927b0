"""pg_dump and pg_restore, found on PATH and given the helpdesk's database without putting its
password on a command line (where `ps` shows it): it travels in PGPASSWORD."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

from helpdesk.operations.archive import COUNTED_TABLES, BackupError


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_url(cls, url: str) -> PostgresTarget:
        parsed = make_url(url)
        if not parsed.database:
            raise BackupError("HELPDESK_DATABASE_URL names no database")
        return cls(
            host=parsed.host or "localhost",
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            password=parsed.password or "",
            database=parsed.database,
        )

    def arguments(self) -> list[str]:
        return [
            f"--host={self.host}",
            f"--port={self.port}",
            f"--username={self.user}",
            "--no-password",
        ]

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            database=self.database,
        )

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


def tool(name: str) -> str:
    """The path of pg_dump or pg_restore, or an error that says how to get it."""
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed or not on PATH. A PostgreSQL backup needs the PostgreSQL "
            "client tools of the server's major version or newer (Debian/Ubuntu: "
            "`apt install postgresql-client`; RHEL: `dnf install postgresql`; macOS: "
            "`brew install libpq`). Or back up the database with your own pg_dump or "
            "pgBackRest setup; see docs/deployment.md#backups."
        )
    return found


def dump_command(target: PostgresTarget, snapshot: str | None) -> list[str]:
    """Custom format (compressed, restorable table by table); no owners or grants, so the dump
    restores into a database owned by any role."""
    command = [
        tool("pg_dump"),
        *target.arguments(),
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        f"--dbname={target.database}",
    ]
    if snapshot:
        # The same snapshot the manifest's row counts were taken in.
        command.append(f"--snapshot={snapshot}")
    return command


def restore_command(target: PostgresTarget, *, clean: bool) -> list[str]:
    """All or nothing (--single-transaction, --exit-on-error); --clean only when the operator
    asked to overwrite."""
    command = [
        tool("pg_restore"),
        *target.arguments(),
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={target.database}",
    ]
    if clean:
        command += ["--clean", "--if-exists"]
    return command


async def tables(connection: asyncpg.Connection) -> set[str]:
    rows = await connection.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    return {row[0] for row in rows}


async def count_rows(connection: asyncpg.Connection) -> dict[str, int]:
    """Rows in the tables a backup's manifest counts (in the connection's snapshot)."""
    present = await tables(connection)
    return {
        table: int(await connection.fetchval(f"SELECT count(*) FROM {table}"))
        for table in COUNTED_TABLES
        if table in present
    }
