"""The routing API: agents' routing profiles and presence, relationship managers, rules,
manual assignment, the reasons, the holding queue, the fairness check and the live feed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from helpdesk.routing import managers, queries
from helpdesk.routing.feed import Sight
from helpdesk.routing.manual import AssignmentError, assign, take
from helpdesk.routing.models import CustomerManager, RoutingProfile, RoutingRule, TeamRouting
from helpdesk.routing.profiles import (
    ProfileChanges,
    ProfileError,
    apply_changes,
    effective_presence,
    profile_of,
    set_presence,
)
from helpdesk.routing.rules import Rule, RuleError
from helpdesk.staff.models import Agent, Role, Team
from helpdesk.staff.permissions import sees_all
from helpdesk.tickets.visibility import TicketNotFound, visible_ticket
from helpdesk.web.auth import CurrentAgent, Overseer, requires
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.routing_schemas import (
    AssignIn,
    DecisionOut,
    HandoverIn,
    HandoverOut,
    HeldOut,
    ManagersIn,
    ManagersOut,
    PresenceIn,
    ProfileIn,
    ProfileOut,
    RuleIn,
    RuleOut,
    StrategyIn,
    UnattendedOut,
)

T = TypeVar("T")
router = APIRouter(prefix="/api", tags=["routing"])
Admin = Annotated[Agent, Depends(requires(Role.ADMIN))]
Id = Annotated[int, Path(ge=1, le=2**62)]
# Comments sent on an idle feed keep proxies from closing it and notice a gone client.
KEEPALIVE_SECONDS = 15.0


async def _checked(operation: Awaitable[T]) -> T:
    try:
        return await operation
    except (ProfileError, RuleError, managers.ManagerError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except AssignmentError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except TicketNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ticket #{exc}") from None


def _profile_out(request: Request, profile: RoutingProfile) -> ProfileOut:
    runtime = runtime_of(request)
    timeout = timedelta(seconds=runtime.settings.routing.heartbeat_timeout_seconds)
    out = ProfileOut.model_validate(profile)
    out.effective_presence = effective_presence(profile, runtime.clock.now(), timeout)
    return out


# --- agents' routing profiles and presence ---------------------------------------------------


@router.get("/agents/{agent_id}/routing", response_model=ProfileOut)
async def read_profile(agent_id: Id, agent: CurrentAgent, request: Request) -> ProfileOut:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        if await session.get(Agent, agent_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no agent {agent_id}")
        profile = await profile_of(session, agent_id, runtime.settings.routing, runtime.clock.now())
        return _profile_out(request, profile)


@router.put("/agents/{agent_id}/routing", response_model=ProfileOut)
async def change_profile(
    agent_id: Id, body: ProfileIn, admin: Admin, request: Request
) -> ProfileOut:
    """Admins set an agent's skills, languages, channels, capacity, weights and shift."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        if await session.get(Agent, agent_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no agent {agent_id}")
        now = runtime.clock.now()
        profile = await profile_of(session, agent_id, runtime.settings.routing, now)
        try:
            apply_changes(profile, ProfileChanges(**body.model_dump()), now)
        except ProfileError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        return _profile_out(request, profile)


@router.post("/me/presence", response_model=ProfileOut)
async def change_presence(body: PresenceIn, agent: CurrentAgent, request: Request) -> ProfileOut:
    """Online, away or offline; also a heartbeat."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        now = runtime.clock.now()
        profile = await profile_of(session, agent.id, runtime.settings.routing, now)
        set_presence(session, profile, body.presence, now)
        return _profile_out(request, profile)


@router.post("/me/heartbeat", response_model=ProfileOut)
async def heartbeat(agent: CurrentAgent, request: Request) -> ProfileOut:
    """The workspace sends this while it is open; without it for
    `routing.heartbeat_timeout_seconds` the agent counts as offline."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        profile = await profile_of(session, agent.id, runtime.settings.routing, runtime.clock.now())
        profile.heartbeat_at = runtime.clock.now()
        return _profile_out(request, profile)


@router.get("/me/feed")
async def live_feed(
    agent: CurrentAgent, request: Request, tickets: bool = False
) -> StreamingResponse:
    """Server-sent events for the signed-in agent: `assigned`, `unassigned`, `message` (a
    customer wrote on one of their tickets) and `presence`. With `tickets=true` also `ticket`
    (something happened on any ticket the agent may see: the workspace reads it again) and
    `viewers` (who else has a ticket open, and who is typing on it)."""
    runtime = runtime_of(request)
    sight = Sight(sees_all(agent), frozenset(t.id for t in agent.teams)) if tickets else None

    async def events() -> AsyncIterator[str]:
        async with runtime.live_feed.subscribe(agent.id, sight) as queue:
            yield _sse({"type": "hello", "agent_id": agent.id})
            while not await request.is_disconnected():
                try:
                    frame = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield _sse(frame)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _sse(frame: dict[str, Any]) -> str:
    return f"event: {frame['type']}\ndata: {json.dumps(frame)}\n\n"


# --- relationship managers --------------------------------------------------------------------


@router.get("/customers/{customer_id}/managers", response_model=ManagersOut)
async def read_managers(customer_id: Id, agent: CurrentAgent, request: Request) -> ManagersOut:
    async with runtime_of(request).db.read() as session:
        row = await session.get(CustomerManager, customer_id)
    if row is None:
        return ManagersOut(customer_id=customer_id)
    return ManagersOut(
        customer_id=customer_id,
        manager_id=row.manager_id,
        backup_id=row.backup_id,
        key_account=row.key_account,
    )


@router.put("/customers/{customer_id}/managers", response_model=ManagersOut)
async def change_managers(
    customer_id: Id, body: ManagersIn, admin: Admin, request: Request
) -> ManagersOut:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await _checked(
            managers.set_managers(
                session,
                customer_id,
                manager_id=body.manager_id,
                backup_id=body.backup_id,
                key_account=body.key_account,
                now=runtime.clock.now(),
            )
        )
    return ManagersOut(customer_id=customer_id, **body.model_dump())


@router.post("/agents/{agent_id}/portfolio/handover", response_model=HandoverOut)
async def hand_over_portfolio(
    agent_id: Id, body: HandoverIn, admin: Admin, request: Request
) -> HandoverOut:
    """Every customer this agent manages or backs up goes to another agent, in one action."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        handover = await _checked(
            managers.hand_over_portfolio(
                session,
                agent_id,
                body.to_agent_id,
                by_agent_id=admin.id,
                now=runtime.clock.now(),
                note=body.note,
            )
        )
    return HandoverOut(
        id=handover.id,
        from_agent_id=handover.from_agent_id,
        to_agent_id=handover.to_agent_id,
        customer_ids=handover.customer_ids,
        at=handover.at,
    )


# --- rules and team strategies ----------------------------------------------------------------


@router.get("/routing/rules", response_model=list[RuleOut])
async def list_rules(agent: CurrentAgent, request: Request) -> list[RuleOut]:
    """Configured rules first (source "config"), then those kept here, in the order tried."""
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        teams = {t.name: t.id for t in await session.scalars(select(Team))}
        stored = await session.scalars(
            select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)
        )
        out = [
            RuleOut(
                id=0,
                source="config",
                name=r.name,
                conditions=dict(r.when),
                team_id=teams.get(r.team or ""),
                skills=r.skills,
                priority=r.priority,
            )
            for r in runtime.settings.routing.rules
        ]
        out += [
            RuleOut(
                id=r.id,
                name=r.name,
                position=r.position,
                conditions=r.conditions,
                team_id=r.team_id,
                skills=r.skills,
                priority=r.priority,
            )
            for r in stored
        ]
    return out


@router.post("/routing/rules", response_model=RuleOut, status_code=201)
async def add_rule(body: RuleIn, admin: Admin, request: Request) -> RuleOut:
    runtime = runtime_of(request)
    try:
        Rule.build(body.name, body.conditions, skills=body.skills, priority=body.priority)
    except RuleError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    async with runtime.db.transaction() as session:
        if body.team_id is not None and await session.get(Team, body.team_id) is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no team {body.team_id}")
        rule = RoutingRule(
            name=body.name,
            position=body.position,
            conditions=body.conditions,
            team_id=body.team_id,
            skills=sorted({s.strip().lower() for s in body.skills if s.strip()}),
            priority=body.priority,
            active=True,
            created_at=runtime.clock.now(),
        )
        session.add(rule)
        await session.flush()
        return RuleOut(id=rule.id, **body.model_dump())


@router.delete("/routing/rules/{rule_id}", status_code=204)
async def delete_rule(rule_id: Id, admin: Admin, request: Request) -> None:
    async with runtime_of(request).db.transaction() as session:
        rule = await session.get(RoutingRule, rule_id)
        if rule is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rule {rule_id}")
        await session.delete(rule)


@router.put("/teams/{team_id}/routing", response_model=StrategyIn)
async def change_strategy(
    team_id: Id, body: StrategyIn, admin: Admin, request: Request
) -> StrategyIn:
    async with runtime_of(request).db.transaction() as session:
        if await session.get(Team, team_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no team {team_id}")
        row = await session.get(TeamRouting, team_id)
        if row is None:
            session.add(TeamRouting(team_id=team_id, strategy=body.strategy))
        else:
            row.strategy = body.strategy
    return body


# --- manual work and the reasons --------------------------------------------------------------


@router.post("/tickets/{number}/assign", response_model=list[DecisionOut])
async def assign_ticket(
    number: Id, body: AssignIn, supervisor: Overseer, request: Request
) -> list[DecisionOut]:
    """Supervisors assign or reassign a ticket."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        ticket = await _checked(visible_ticket(session, supervisor, number))
        await _checked(
            assign(
                session,
                supervisor,
                ticket,
                body.agent_id,
                settings=runtime.settings.routing,
                now=runtime.clock.now(),
                note=body.note,
            )
        )
        return [DecisionOut.model_validate(d) for d in await queries.decisions(session, number)]


@router.post("/tickets/{number}/take", response_model=list[DecisionOut])
async def take_ticket(number: Id, agent: CurrentAgent, request: Request) -> list[DecisionOut]:
    """An agent takes an unassigned ticket of their teams."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        ticket = await _checked(visible_ticket(session, agent, number))
        await _checked(
            take(session, agent, ticket, settings=runtime.settings.routing, now=runtime.clock.now())
        )
        return [DecisionOut.model_validate(d) for d in await queries.decisions(session, number)]


@router.post("/tickets/{number}/hand-back", response_model=list[DecisionOut])
async def hand_back(number: Id, agent: CurrentAgent, request: Request) -> list[DecisionOut]:
    """The agent gives the ticket back: routing gives it to someone else, or it waits."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        ticket = await _checked(visible_ticket(session, agent, number))
        await _checked(runtime.routing.hand_back(session, agent, ticket))
        return [DecisionOut.model_validate(d) for d in await queries.decisions(session, number)]


@router.get("/tickets/{number}/routing", response_model=list[DecisionOut])
async def ticket_routing(number: Id, agent: CurrentAgent, request: Request) -> list[DecisionOut]:
    """Every routing decision on the ticket with its reason, oldest first."""
    async with runtime_of(request).db.read() as session:
        await _checked(visible_ticket(session, agent, number))
        return [DecisionOut.model_validate(d) for d in await queries.decisions(session, number)]


@router.get("/routing/queue", response_model=list[HeldOut])
async def holding_queue(supervisor: Overseer, request: Request) -> list[HeldOut]:
    """The holding queue, most urgent and oldest first (the first 100)."""
    async with runtime_of(request).db.read() as session:
        return [HeldOut.model_validate(h) for h in await queries.holding_queue(session)]


@router.get("/routing/unattended", response_model=list[UnattendedOut])
async def unattended(supervisor: Overseer, request: Request) -> list[UnattendedOut]:
    """The fairness check: open tickets a person must answer that are neither assigned nor
    held. It must always be empty."""
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        found = await queries.unattended(session, runtime.conversation.bot_answers)
    return [_unattended(t) for t in found]


def _unattended(item: queries.Unattended) -> UnattendedOut:
    return UnattendedOut(
        ticket_id=item.ticket_id,
        channel=item.channel,
        status=item.status,
        created_at=item.created_at,
    )
