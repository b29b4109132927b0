"""The vocabulary of the event table (`helpdesk.runtime.event_table`): who reacts to an event,
and how."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.events.types import Event

Handle = Callable[[AsyncSession, Any], Awaitable[None]]
Wanted = Callable[[Any], bool]
HandleMany = Callable[[AsyncSession, Sequence[Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Reaction:
    """A handler that must act once per event, whichever process runs it. It runs in the
    transaction that moves its checkpoint, so what it writes commits exactly once."""

    name: str
    handle: Handle
    # Asked first, from the event alone: a declined event costs the handler nothing.
    wanted: Wanted | None = None
    # Handles a round's wanted events together, in place of `handle` on each: a few statements
    # for all of them instead of several each. A retried round passes one event at a time.
    handle_many: HandleMany | None = None


@dataclass(frozen=True, slots=True)
class Broadcast:
    """A handler every process runs for itself, for state it keeps in memory."""

    name: str
    handle: Callable[[Any], Awaitable[None]]


EventTable = dict[type[Event], Sequence[Reaction | Broadcast]]
