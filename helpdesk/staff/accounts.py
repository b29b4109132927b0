"""Agents and teams: creating them and checking who is who."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import SessionTransactionOrigin

from helpdesk.common.sanitize import clean_text
from helpdesk.common.security import hash_password, verify_password
from helpdesk.staff.models import Agent, Role, Team, team_key

# Passwords printed in our own docs and demo: never accepted for a real account.
DEMO_PASSWORD = "demo-password"
PUBLISHED_PASSWORDS = frozenset({DEMO_PASSWORD})
MIN_PASSWORD_LENGTH = 8


class AccountError(Exception):
    pass


def check_new_password(password: str, *, allow_published: bool = False) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if password in PUBLISHED_PASSWORDS and not allow_published:
        raise AccountError("that password is published in the demo; choose another")


def normalise_email(email: str) -> str:
    return clean_text(email).strip().lower()


async def team_named(session: AsyncSession, name: str) -> Team:
    """The team with this name whatever its case ("support" joins "Support"), created if it
    does not exist yet."""
    name = clean_text(name).strip()
    if not name:
        raise AccountError("a team needs a name")
    team = await session.scalar(select(Team).where(Team.name_key == team_key(name)))
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
    allow_published_password: bool = False,
) -> Agent:
    email = normalise_email(email)
    if "@" not in email:
        raise AccountError(f"{email!r} is not an email address")
    check_new_password(password, allow_published=allow_published_password)
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


async def authenticate(
    session: AsyncSession, email: str, password: str
) -> tuple[Agent | None, str]:
    """The agent these credentials belong to, or None and why (for the security log only: the
    caller answers the same whatever the reason)."""
    agent = await session.scalar(select(Agent).where(Agent.email == normalise_email(email)))
    await _release_connection(session)
    valid = await verify_password(agent.password_hash if agent else None, password)
    if agent is None:
        return None, "no such account"
    if not valid:
        return None, "wrong password"
    if not agent.active:
        return None, "the agent is disabled"
    return agent, ""


async def _release_connection(session: AsyncSession) -> None:
    """A password check waits for a hashing slot and then takes 50-200 ms: a plain read gives
    its database connection back meanwhile, so a burst of logins cannot empty the pool that
    intake and everyone else share. (Objects stay loaded: sessions do not expire on commit.)
    A transaction the caller began itself is left alone."""
    transaction = session.sync_session.get_transaction()
    if transaction is not None and transaction.origin is SessionTransactionOrigin.AUTOBEGIN:
        await session.commit()
