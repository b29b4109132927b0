"""Agents' routing profiles: skills, languages, channels, capacity, presence and shifts, and
the view of them that a decision takes (`candidates`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.events.types import AgentPresenceChanged
from helpdesk.routing.models import Presence, RoutingProfile
from helpdesk.routing.pipeline import Candidate
from helpdesk.routing.settings import RoutingSettings
from helpdesk.staff.models import Agent, team_members
from helpdesk.storage.event_log import record
from helpdesk.tickets.models import OPEN_STATUSES, Ticket


class ProfileError(ValueError):
    """A profile value is wrong; the message names it."""


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """None leaves a field as it is."""

    skills: list[str] | None = None
    languages: list[str] | None = None
    channels: list[str] | None = None
    capacity: int | None = None
    channel_weights: dict[str, int] | None = None
    weight: int | None = None
    shift_start: str | None = None
    shift_end: str | None = None
    shift_timezone: str | None = None
    clear_shift: bool = False


async def profile_of(
    session: AsyncSession, agent_id: int, settings: RoutingSettings, now: datetime
) -> RoutingProfile:
    """The agent's profile, created with the defaults the first time it is asked for."""
    profile = await session.get(RoutingProfile, agent_id)
    if profile is None:
        profile = RoutingProfile(
            agent_id=agent_id,
            skills=[],
            languages=[],
            channels=[],
            capacity=settings.default_capacity,
            channel_weights={},
            weight=1,
            presence=Presence.OFFLINE,
            shift_timezone="UTC",
            load=0,
            updated_at=now,
        )
        session.add(profile)
        await session.flush()
    return profile


def apply_changes(profile: RoutingProfile, changes: ProfileChanges, now: datetime) -> None:
    def words(values: list[str]) -> list[str]:
        return sorted({v.strip().lower() for v in values if v.strip()})

    if changes.skills is not None:
        profile.skills = words(changes.skills)
    if changes.languages is not None:
        profile.languages = words(changes.languages)
    if changes.channels is not None:
        profile.channels = words(changes.channels)
    if changes.capacity is not None:
        if not 0 <= changes.capacity <= 10_000:
            raise ProfileError("capacity must be between 0 and 10000")
        profile.capacity = changes.capacity
    if changes.channel_weights is not None:
        if any(not 1 <= w <= 100 for w in changes.channel_weights.values()):
            raise ProfileError("channel weights must be between 1 and 100")
        profile.channel_weights = {k.lower(): w for k, w in changes.channel_weights.items()}
    if changes.weight is not None:
        if not 1 <= changes.weight <= 100:
            raise ProfileError("weight must be between 1 and 100")
        profile.weight = changes.weight
    if changes.clear_shift:
        profile.shift_start = profile.shift_end = None
    if changes.shift_start is not None or changes.shift_end is not None:
        if changes.shift_start is None or changes.shift_end is None:
            raise ProfileError("a shift needs both shift_start and shift_end (HH:MM)")
        _clock_time(changes.shift_start)
        _clock_time(changes.shift_end)
        profile.shift_start, profile.shift_end = changes.shift_start, changes.shift_end
    if changes.shift_timezone is not None:
        try:
            ZoneInfo(changes.shift_timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ProfileError(f"unknown time zone {changes.shift_timezone!r}") from None
        profile.shift_timezone = changes.shift_timezone
    profile.updated_at = now


def set_presence(
    session: AsyncSession, profile: RoutingProfile, presence: Presence, now: datetime
) -> None:
    """The agent says where they are; this is also a heartbeat."""
    profile.heartbeat_at = now
    if presence == profile.presence:
        return
    profile.presence = presence
    if presence == Presence.OFFLINE:
        profile.offline_since = now
    else:
        profile.offline_since = None
        profile.released_at = None
    profile.updated_at = now
    record(session, AgentPresenceChanged(profile.agent_id, presence.value))


def effective_presence(profile: RoutingProfile, now: datetime, timeout: timedelta) -> Presence:
    """Online or away only while heartbeats keep coming."""
    if profile.presence == Presence.OFFLINE:
        return Presence.OFFLINE
    if profile.heartbeat_at is None or profile.heartbeat_at + timeout < now:
        return Presence.OFFLINE
    return profile.presence


def in_shift(profile: RoutingProfile, now: datetime) -> bool:
    if not profile.shift_start or not profile.shift_end:
        return True
    local = now.astimezone(ZoneInfo(profile.shift_timezone)).time()
    start, end = _clock_time(profile.shift_start), _clock_time(profile.shift_end)
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # a night shift past midnight


def _clock_time(value: str) -> time:
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ProfileError(f"{value!r} is not a time of day (HH:MM)") from None


async def candidates(
    session: AsyncSession,
    *,
    team_ids: Collection[int],
    agent_ids: Collection[int],
    every_agent: bool,
    settings: RoutingSettings,
    now: datetime,
) -> list[Candidate]:
    """The agents a batch of decisions may consider: members of the teams, the named agents
    (managers, backups), or everyone. Agents without a profile are offline."""
    # Columns, not the Agent entity: its teams would be loaded again, one query more.
    query = select(Agent.id, Agent.name, Agent.active, RoutingProfile).outerjoin(
        RoutingProfile, RoutingProfile.agent_id == Agent.id
    )
    if not every_agent:
        members = select(team_members.c.agent_id).where(team_members.c.team_id.in_(team_ids))
        query = query.where(Agent.id.in_(members) | Agent.id.in_(list(agent_ids)))
    rows = (await session.execute(query.order_by(Agent.id))).all()
    teams = await _teams_of(session, [row.id for row in rows])
    timeout = timedelta(seconds=settings.heartbeat_timeout_seconds)
    found = []
    for agent_id, name, active, profile in rows:
        if profile is None:
            found.append(
                _default_candidate(
                    agent_id, name, active, teams.get(agent_id, frozenset()), settings
                )
            )
            continue
        found.append(
            Candidate(
                agent_id=agent_id,
                name=name,
                active=active,
                presence=effective_presence(profile, now, timeout),
                in_shift=in_shift(profile, now),
                teams=teams.get(agent_id, frozenset()),
                skills=frozenset(profile.skills),
                languages=frozenset(profile.languages),
                channels=frozenset(profile.channels),
                capacity=profile.capacity,
                load=profile.load,
                weight=profile.weight,
                channel_weights=dict(profile.channel_weights),
                last_assigned_at=profile.last_assigned_at,
            )
        )
    return found


def _default_candidate(
    agent_id: int, name: str, active: bool, teams: frozenset[int], settings: RoutingSettings
) -> Candidate:
    return Candidate(
        agent_id=agent_id,
        name=name,
        active=active,
        presence=Presence.OFFLINE,
        in_shift=True,
        teams=teams,
        skills=frozenset(),
        languages=frozenset(),
        channels=frozenset(),
        capacity=settings.default_capacity,
        load=0,
    )


async def _teams_of(session: AsyncSession, agent_ids: list[int]) -> dict[int, frozenset[int]]:
    if not agent_ids:
        return {}
    rows = await session.execute(
        select(team_members.c.agent_id, team_members.c.team_id).where(
            team_members.c.agent_id.in_(agent_ids)
        )
    )
    teams: dict[int, set[int]] = {}
    for agent_id, team_id in rows:
        teams.setdefault(agent_id, set()).add(team_id)
    return {agent_id: frozenset(ids) for agent_id, ids in teams.items()}


async def exact_loads(
    session: AsyncSession,
    agent_ids: Iterable[int],
    weights: dict[int, dict[str, int]],
    defaults: dict[str, int],
) -> dict[int, int]:
    """Each agent's weighted open tickets, counted now (claims hold the agents' rows locked,
    so the count cannot change under them)."""
    ids = sorted(set(agent_ids))
    loads = dict.fromkeys(ids, 0)
    if not ids:
        return loads
    rows = await session.execute(
        select(Ticket.assignee_id, Ticket.channel, func.count())
        .where(Ticket.assignee_id.in_(ids), Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.assignee_id, Ticket.channel)
    )
    for agent_id, channel, count in rows:
        if agent_id is None:
            continue
        own = weights.get(agent_id, {})
        loads[agent_id] += count * own.get(channel, defaults.get(channel, 1))
    return loads
