"""What an admin does to agents: list, disable, enable, reset a password, change a role.

A disabled agent's sessions end in the same transaction, and `AgentDisabled` is recorded with
it so that routing takes their tickets back. A new password ends the agent's sessions (an agent
who changes their own keeps the one they changed it from). The desk always keeps one active
admin.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.security import hash_password, verify_password
from helpdesk.events.types import AgentDisabled
from helpdesk.staff.accounts import AccountError, check_new_password, normalise_email
from helpdesk.staff.models import Agent, Role
from helpdesk.staff.sessions import end_sessions_of
from helpdesk.storage.event_log import record


class NoSuchAgent(AccountError):
    """No agent by that id or email."""


async def all_agents(session: AsyncSession) -> list[Agent]:
    """Every agent, disabled ones too, by name."""
    return list(await session.scalars(select(Agent).order_by(Agent.name, Agent.id)))


async def agent_by_email(session: AsyncSession, email: str) -> Agent:
    agent = await session.scalar(select(Agent).where(Agent.email == normalise_email(email)))
    if agent is None:
        raise NoSuchAgent(f"no agent with email {normalise_email(email)}")
    return agent


async def agent_by_id(session: AsyncSession, agent_id: int) -> Agent:
    agent = await session.get(Agent, agent_id)
    if agent is None:
        raise NoSuchAgent(f"no agent {agent_id}")
    return agent


async def disable(session: AsyncSession, agent: Agent) -> bool:
    """Disable the agent and end their sessions at once; False if they were disabled already."""
    if not agent.active:
        return False
    await _keep_an_admin(session, agent, "disable")
    agent.active = False
    await end_sessions_of(session, agent.id)
    record(session, AgentDisabled(agent_id=agent.id))
    return True


async def enable(session: AsyncSession, agent: Agent) -> bool:
    if agent.active:
        return False
    agent.active = True
    return True


async def new_password_hash(password: str) -> str:
    """Check a new password and hash it: before the transaction, so that argon2's tens of
    milliseconds never hold SQLite's one writer."""
    check_new_password(password)
    return await hash_password(password)


async def check_current_password(agent: Agent, password: str) -> None:
    if not await verify_password(agent.password_hash, password):
        raise AccountError("the current password is wrong")


async def set_password(
    session: AsyncSession, agent: Agent, password_hash: str, *, keep_session: str | None = None
) -> None:
    """A new password (from `new_password_hash`): every session of the agent ends, except
    `keep_session` (the one an agent changed their own password from)."""
    agent.password_hash = password_hash
    await end_sessions_of(session, agent.id, keep=keep_session)


async def change_role(session: AsyncSession, agent: Agent, role: Role) -> bool:
    if agent.role == role:
        return False
    if role != Role.ADMIN:
        await _keep_an_admin(session, agent, "change the role of")
    agent.role = role
    return True


async def _keep_an_admin(session: AsyncSession, agent: Agent, doing: str) -> None:
    if agent.role != Role.ADMIN or not agent.active:
        return
    admins = await session.scalar(
        select(func.count()).where(Agent.role == Role.ADMIN, Agent.active, Agent.id != agent.id)
    )
    if not admins:
        raise AccountError(f"cannot {doing} {agent.email}: the desk's only active admin")
