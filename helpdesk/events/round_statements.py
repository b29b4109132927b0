"""The statements of the rounds that read the event log (reactions and broadcasts), built once
and run as plain Core.

Every reaction runs several rounds a second under load, each reading its checkpoint and the log
and moving the checkpoint; the broadcasts read the log as often. Built anew each round through
the ORM, these small statements cost more Python than the queries cost PostgreSQL (py-spy: the
ORM's bulk UPDATE machinery alone was a third of a round); here each is built once, with bound
parameters, and runs on the session's connection.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Select, Update, bindparam, func, literal, select, update

from helpdesk.storage.base import table_of
from helpdesk.storage.event_log import EVENTS, ReactionCheckpoint

CHECKPOINTS = table_of(ReactionCheckpoint)


@functools.cache
def position() -> Select[Any]:
    """(the stored checkpoint of :reaction, the newest event id) in one statement."""
    return select(
        select(CHECKPOINTS.c.last_event_id)
        .where(CHECKPOINTS.c.name == bindparam("reaction"))
        .scalar_subquery(),
        select(func.coalesce(func.max(EVENTS.c.id), 0)).scalar_subquery(),
    )


@functools.cache
def events_between(types: tuple[str, ...], *, bounded: bool) -> Select[Any]:
    """The events of `types` after :start (up to :upper when `bounded`), oldest first, at most
    :limit. The types are fixed per reaction, so they are part of the statement."""
    query = select(EVENTS.c.id, EVENTS.c.type, EVENTS.c.payload).where(
        EVENTS.c.id > bindparam("start"), EVENTS.c.type.in_([literal(name) for name in types])
    )
    if bounded:
        query = query.where(EVENTS.c.id <= bindparam("upper"))
    return query.order_by(EVENTS.c.id).limit(bindparam("limit"))


@functools.cache
def claim(*, skip_locked: bool) -> Select[Any]:
    """The checkpoint, its row locked for the round (not on SQLite, whose writers take turns)."""
    query = select(CHECKPOINTS.c.last_event_id).where(CHECKPOINTS.c.name == bindparam("reaction"))
    return query.with_for_update(skip_locked=True) if skip_locked else query


@functools.cache
def advance(*, only_forward: bool) -> Update:
    """Move the checkpoint to :last at :at; `only_forward` never moves it back (a lazy store
    may arrive after a round that went further)."""
    query = update(CHECKPOINTS).where(CHECKPOINTS.c.name == bindparam("reaction"))
    if only_forward:
        query = query.where(CHECKPOINTS.c.last_event_id < bindparam("last"))
    return query.values(last_event_id=bindparam("last"), updated_at=bindparam("at"))
