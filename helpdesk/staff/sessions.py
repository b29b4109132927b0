"""Agents' sessions, kept in the database: a random token whose hash names a row. Deleting the
row ends the session at once, in every process (logout, password change, disabling)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from helpdesk.staff.models import Agent, AgentSession
from helpdesk.staff.session_cache import SessionCache, generation, sessions_changed


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(
    session: AsyncSession, agent: Agent, *, address: str, now: datetime, lifetime: timedelta
) -> str:
    """A new session for the agent; returns its token (stored only as a hash). Nothing in the
    token comes from the agent or the password: it is 32 random bytes."""
    # Expired sessions go as others log in; rows another login is deleting are skipped.
    await session.execute(
        delete(AgentSession).where(
            AgentSession.id.in_(
                select(AgentSession.id)
                .where(AgentSession.expires_at <= now)
                .limit(200)
                .with_for_update(skip_locked=True)
            )
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        AgentSession(
            token_hash=_hash(token),
            agent_id=agent.id,
            address=address[:64],
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    await session.flush()
    return token


def remembered_agent(token: str, cache: SessionCache) -> Agent | None:
    """The agent `cache` remembers for this token, if any: a caller asks before it opens a
    session for `agent_of`."""
    if not token or len(token) > 200:
        return None
    return cache.get(_hash(token))


async def agent_of(
    session: AsyncSession, token: str, *, now: datetime, cache: SessionCache | None = None
) -> Agent | None:
    """The active agent whose unexpired session this token is, or None. With a `cache`, an
    answer from the last moment (`session_cache.py`) saves the lookup."""
    if not token or len(token) > 200:
        return None
    token_hash = _hash(token)
    if cache is not None and (known := cache.get(token_hash)) is not None:
        return known
    looked_up_at = generation()
    row = (
        (
            await session.execute(
                select(Agent, AgentSession.expires_at)
                .join(AgentSession, AgentSession.agent_id == Agent.id)
                .where(AgentSession.token_hash == token_hash, AgentSession.expires_at > now)
                # The agent's teams in the same statement: one lookup per request, not two.
                .options(joinedload(Agent.teams))
            )
        )
        .unique()
        .first()
    )
    if row is None or not row[0].active:
        return None
    agent, expires = row
    if cache is not None:
        cache.remember(token_hash, agent, looked_up_at=looked_up_at, now=now, expires=expires)
    return agent


async def end_session(session: AsyncSession, token: str) -> None:
    sessions_changed(session.sync_session)
    await session.execute(delete(AgentSession).where(AgentSession.token_hash == _hash(token)))


async def end_sessions_of(session: AsyncSession, agent_id: int, *, keep: str | None = None) -> int:
    """End every session of the agent (except `keep`, the caller's own); returns how many."""
    sessions_changed(session.sync_session)
    statement = delete(AgentSession).where(AgentSession.agent_id == agent_id)
    if keep is not None:
        statement = statement.where(AgentSession.token_hash != _hash(keep))
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
