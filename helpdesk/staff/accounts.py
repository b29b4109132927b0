"""Agents and teams: creating them and checking who is who."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import SessionTransactionOrigin

from helpdesk.common.sanitize import clean_text
from helpdesk.common.security import hash_password, verify_password
from helpdesk.staff.models import Agent, Role, Team


class AccountError(Exception):
    pass


def normalise_email(email: str) -> str:
    return clean_text(email).strip().lower()


async def team_named(session: AsyncSession, name: str) -> Team:
    """The team with this name, created if it does not exist yet."""
    team = await session.scalar(select(Team).where(Team.name == name))
    if team is None:
        team = Team(name=name)
        session.add(team)
        await session.flush()
    return team


async def add_agent(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    password: str,
    now: datetime,
    role: Role = Role.AGENT,
    teams: tuple[str, ...] = (),
) -> Agent:
    email = normalise_email(email)
    if "@" not in email:
        raise AccountError(f"{email!r} is not an email address")
    if len(password) < 8:
        raise AccountError("the password must have at least 8 characters")
    if await session.scalar(select(func.count()).where(Agent.email == email)):
        raise AccountError(f"an agent with email {email} exists already")
    agent = Agent(
        email=email,
        name=name.strip() or email,
        role=role,
        password_hash=await hash_password(password),
        created_at=now,
        teams=[await team_named(session, team) for team in teams],
    )
    session.add(agent)
    await session.flush()
    return agent


async def authenticate(session: AsyncSession, email: str, password: str) -> Agent | None:
    agent = await session.scalar(select(Agent).where(Agent.email == normalise_email(email)))
    await _release_connection(session)
    valid = await verify_password(agent.password_hash if agent else None, password)
    if agent is None or not valid or not agent.active:
        return None
    return agent


async def _release_connection(session: AsyncSession) -> None:
    """A password check waits for a hashing slot and then takes 50-200 ms: a plain read gives
    its database connection back meanwhile, so a burst of logins cannot empty the pool that
    intake and everyone else share. (Objects stay loaded: sessions do not expire on commit.)
    A transaction the caller began itself is left alone."""
    transaction = session.sync_session.get_transaction()
    if transaction is not None and transaction.origin is SessionTransactionOrigin.AUTOBEGIN:
        await session.commit()
