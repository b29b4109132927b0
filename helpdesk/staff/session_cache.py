"""A short in-process memory of which agent a session token names, so that every request does
not look the session up in the database.

An entry lives `seconds` and never past the session's own expiry. Anything that ends sessions
or changes an agent or a team (logout, password change, disabling, a role) drops every entry at
once, and again when its transaction commits, so that a lookup racing the change cannot keep the
old answer.

Other processes: on PostgreSQL the committing transaction also NOTIFYs `NOTIFY_CHANNEL`, and
every process LISTENing there (`Runtime`) drops its entries when the commit is delivered. A
process trusts its memory only while it is listening: while the listener reconnects nothing is
remembered, and the reconnection itself drops everything (what was notified meanwhile is lost).
On SQLite there is no such notice: another process (a `helpdesk agent disable` command) is seen
at most `seconds` later, so the memory is off there unless an operator turns it on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from helpdesk.staff.models import Agent, Team

# Every process holding a memory LISTENs here; the payload carries nothing.
NOTIFY_CHANNEL = "helpdesk_sessions"
# In a session's `info` while its commit is to NOTIFY.
_TELLING = "helpdesk.sessions_changed"

# Beyond this many live tokens the memory starts again empty rather than grow.
MAX_ENTRIES = 10_000

# Bumped by every change that may end a session or change what an agent may do; an entry
# remembered under an older generation is not used.
_generation = 0


def generation() -> int:
    return _generation


def _bump(*_: object) -> None:
    global _generation
    _generation += 1


def forget_all() -> None:
    """Drop every entry of every memory in this process (another process changed sessions)."""
    _bump()


def sessions_changed(session: Session) -> None:
    """Sessions or agents change in `session`'s transaction: forget every entry now and once
    more at its commit (a lookup between the two could otherwise remember the old rows), and
    tell the other processes with the commit."""
    _bump()
    event.listen(session, "after_commit", _bump, once=True)
    # Once per transaction, however many changes it makes.
    if not session.info.get(_TELLING):
        session.info[_TELLING] = True
        event.listen(session, "before_commit", _tell_other_processes, once=True)


def _tell_other_processes(session: Session) -> None:
    # A NOTIFY is delivered when its transaction commits, and not at all if it rolls back.
    session.info.pop(_TELLING, None)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')")


# Tables whose rows say who an agent is and what they may do.
_AGENT_TABLES = frozenset({"agents", "agent_sessions", "teams", "team_members"})


@event.listens_for(Session, "do_orm_execute")
def _agents_written(state: ORMExecuteState) -> None:
    # The same for UPDATE or DELETE statements (and rows put into a team) sent without objects.
    statement = state.statement
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(statement, "table", None)
    name = getattr(table, "name", None)
    if name in _AGENT_TABLES and (not state.is_insert or name == "team_members"):
        sessions_changed(state.session)


@event.listens_for(Session, "after_flush")
def _agents_flushed(session: Session, _flush: UOWTransaction) -> None:
    # A role, `active`, or team membership changed through the ORM: same as ending sessions.
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, Agent | Team):
            sessions_changed(session)
            return


def _always() -> bool:
    return True


class SessionCache:
    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        trusted: Callable[[], bool] = _always,
    ) -> None:
        """`trusted` says whether changes made by other processes reach this one now (its
        listener is connected); while it says no, nothing is remembered or used."""
        self.seconds = seconds
        self._clock = clock
        self._trusted = trusted
        # token hash -> (monotonic deadline, generation, agent as loaded, detached)
        self._entries: dict[str, tuple[float, int, Agent]] = {}

    def get(self, token_hash: str) -> Agent | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if not self._trusted():
            self._entries.clear()
            return None
        deadline, remembered_at, agent = entry
        if remembered_at != _generation or self._clock() >= deadline:
            del self._entries[token_hash]
            return None
        return agent

    def remember(
        self, token_hash: str, agent: Agent, *, looked_up_at: int, now: datetime, expires: datetime
    ) -> None:
        """`looked_up_at` is `generation()` taken before the lookup began."""
        if self.seconds <= 0 or looked_up_at != _generation or not self._trusted():
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        left = min(self.seconds, (expires - now).total_seconds())
        if left > 0:
            self._entries[token_hash] = (self._clock() + left, looked_up_at, agent)
