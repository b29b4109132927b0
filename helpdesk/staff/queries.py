"""Who works here: the agents and teams a ticket can be given to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.staff.models import Agent, Team


async def active_agents(session: AsyncSession) -> list[Agent]:
    return list(await session.scalars(select(Agent).where(Agent.active).order_by(Agent.name)))


async def teams(session: AsyncSession) -> list[Team]:
    return list(await session.scalars(select(Team).order_by(Team.id)))


async def find_agent(session: AsyncSession, agent_id: int) -> Agent | None:
    return await session.get(Agent, agent_id)
