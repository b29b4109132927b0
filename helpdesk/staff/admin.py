"""What an admin does to agents: list, disable, enable, reset a password, change a role.

A disabled agent's sessions end in the same transaction, and `AgentDisabled` is recorded with
it so that routing takes their tickets back. The desk always keeps one active admin, and an
agent who changes their own password keeps only the session they changed it from.
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


async def reset_password(session: AsyncSession, agent: Agent, password: str) -> None:
    """An admin sets a new password: every session of the agent ends."""
    check_new_password(password)
    agent.password_hash = await hash_password(password)
    await end_sessions_of(session, agent.id)


async def change_own_password(
    session: AsyncSession, agent: Agent, current: str, new: str, *, keep_session: str
) -> None:
    """The agent changes their password: the current one must be right; their other sessions
    end, the one they did it from stays."""
    if not await verify_password(agent.password_hash, current):
        raise AccountError("the current password is wrong")
    check_new_password(new)
    agent.password_hash = await hash_password(new)
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
