"""The secret key kept once in the database, so that every process sharing it signs and checks
tokens with the same key (PostgreSQL, several `helpdesk serve` behind a load balancer)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import String, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.storage.base import Base, table_of
from helpdesk.storage.database import Database

SECRET_KEY_NAME = "secret_key"


class StoredSecret(Base):
    __tablename__ = "stored_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


async def shared_secret_key(db: Database) -> str:
    """The key stored in the database; the first process to ask creates it."""
    async with db.read() as session:
        stored = await session.scalar(
            select(StoredSecret.value).where(StoredSecret.name == SECRET_KEY_NAME)
        )
    if stored:
        return stored
    try:
        async with db.write_connection() as connection:
            await connection.execute(
                insert(table_of(StoredSecret)).values(
                    name=SECRET_KEY_NAME,
                    value=secrets.token_urlsafe(48),
                    created_at=db.clock.now(),
                )
            )
    except IntegrityError:
        pass  # another process stored one first: use theirs
    async with db.read() as session:
        value = await session.scalar(
            select(StoredSecret.value).where(StoredSecret.name == SECRET_KEY_NAME)
        )
    assert value
    return value
