"""Finding a customer by an address an agent was given (an email, a phone number), or creating
them, the way intake does for a first-time sender: one customer, one identity per address."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Customer, Identity
from helpdesk.storage import driver_statement
from helpdesk.storage.base import table_of
from helpdesk.storage.rows import insert_one

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,252}\.[^@\s]{1,63}$")
# Separators people write in phone numbers; they are not part of the number.
PHONE_SEPARATORS = re.compile(r"[\s().\-/]")
PHONE = re.compile(r"^\+?[0-9]{4,20}$")


class BadAddress(ValueError):
    """The address cannot be an email address or a phone number; the message says why."""


@dataclass(frozen=True, slots=True)
class Found:
    customer_id: int
    identity_id: int
    created: bool


def normalise(channel: str, address: str) -> str:
    """The address as identities store it: email in lower case, a phone number as its digits
    (and a leading +). Raises BadAddress for anything else."""
    value = address.strip()
    if channel == "email":
        if not EMAIL.match(value):
            raise BadAddress(f"{address!r} is not an email address")
        return value.lower()
    if channel == "phone":
        number = PHONE_SEPARATORS.sub("", value)
        if not PHONE.match(number):
            raise BadAddress(f"{address!r} is not a phone number (4 to 20 digits, + allowed)")
        return number
    raise BadAddress(f"customers are not looked up by {channel}")


def customer_name_for(name: str, address: str) -> str:
    """A new customer's name: the one the agent gave, else the address."""
    return (name or address)[:200]


@dataclass(frozen=True, slots=True)
class Owner:
    identity_id: int
    customer_id: int


async def owners(session: AsyncSession, addresses: dict[str, str]) -> dict[str, Owner]:
    """Who holds each (normalised) address, by channel, in one read of plain columns: a
    hot path (an agent opening a ticket) needs only the ids, not the mapped identities."""
    if not addresses:
        return {}
    found = await driver_statement.fetch(
        await session.connection(),
        _owners_statement(len(addresses)),
        {
            f"{name}{index}": value
            for index, pair in enumerate(addresses.items())
            for name, value in zip(("channel", "address"), pair, strict=True)
        },
    )
    return {channel: Owner(identity_id, customer_id) for channel, identity_id, customer_id in found}


@functools.cache
def _owners_statement(count: int) -> Select[Any]:
    table = table_of(Identity)
    return select(table.c.channel, table.c.id, table.c.customer_id).where(
        or_(
            *(
                and_(
                    table.c.channel == bindparam(f"channel{index}"),
                    table.c.address == bindparam(f"address{index}"),
                )
                for index in range(count)
            )
        )
    )


async def find(session: AsyncSession, channel: str, address: str) -> Identity | None:
    return await session.scalar(
        select(Identity).where(Identity.channel == channel, Identity.address == address)
    )


def new_customer(channel: str, address: str, *, name: str, now: datetime) -> Customer:
    """The customer a first-time `address` makes, not yet added anywhere."""
    return Customer(
        name=customer_name_for(name, address),
        email=address if channel == "email" else None,
        created_at=now,
    )


def new_identity(
    customer_id: int, channel: str, address: str, *, name: str, now: datetime
) -> Identity:
    return Identity(
        customer_id=customer_id,
        channel=channel,
        address=address,
        display_name=name[:200],
        created_at=now,
    )


async def create(
    session: AsyncSession,
    channel: str,
    address: str,
    *,
    name: str,
    now: datetime,
    customer_id: int | None = None,
) -> Found:
    """A new identity for `address` (already normalised, and known to be nobody's): a new
    customer's, or `customer_id`'s when given. Two requests adding the same address at once: one
    commits, the other fails on the unique (channel, address); its caller runs it again and then
    finds the address."""
    created = customer_id is None
    if customer_id is None:
        customer_id = await insert_one(session, new_customer(channel, address, name=name, now=now))
    identity = new_identity(customer_id, channel, address, name=name, now=now)
    # Inserted directly, not flushed: the rows are all this needs (`storage/rows.py`).
    return Found(customer_id, await insert_one(session, identity), created=created)
