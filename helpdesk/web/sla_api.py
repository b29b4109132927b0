"""Service levels in the API: the policies and calendars, a ticket's timers, escalations and
their acknowledgement by a supervisor."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel

from helpdesk.sla import queries
from helpdesk.sla.models import Escalation, SlaTimer
from helpdesk.tickets.visibility import TicketNotFound, visible_ticket
from helpdesk.web.auth import CurrentAgent, Overseer
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID

router = APIRouter(prefix="/api", tags=["sla"])


class TimerOut(BaseModel):
    id: int
    metric: str
    policy: str
    calendar: str
    status: str
    breached: bool
    target_seconds: float
    used_seconds: float
    started_at: datetime
    due_at: datetime | None
    next_step_at: datetime | None
    steps_fired: int
    breached_at: datetime | None
    ended_at: datetime | None


class EscalationOut(BaseModel):
    id: int
    ticket: int
    level: str
    reason: str
    recipients: list[int]
    raised_at: datetime
    notify_after: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: int | None


class PolicyOut(BaseModel):
    name: str
    kinds: list[str]
    priorities: list[str]
    tiers: list[str]
    first_response_hours: float
    next_response_hours: float
    resolution_hours: float
    warning_share: float
    further_after_hours: float
    reassign_on_further: bool
    notify_outside_hours: bool


class SlaConfigOut(BaseModel):
    policies: list[PolicyOut]
    calendars: dict[str, dict[str, object]]
    team_calendars: dict[str, str]
    tier_calendars: dict[str, str]


@router.get("/sla/policies", response_model=SlaConfigOut)
async def policies(request: Request, _agent: CurrentAgent) -> SlaConfigOut:
    """The policies in the order they are matched (first match wins), and the calendars."""
    settings = runtime_of(request).settings.sla
    return SlaConfigOut(
        policies=[PolicyOut(**p.model_dump()) for p in settings.policies],
        calendars={name: c.model_dump(mode="json") for name, c in settings.calendars.items()},
        team_calendars=settings.team_calendars,
        tier_calendars=settings.tier_calendars,
    )


@router.get("/tickets/{number}/sla", response_model=list[TimerOut])
async def ticket_timers(
    number: Annotated[int, Path(ge=1, le=MAX_ID)], agent: CurrentAgent, request: Request
) -> list[TimerOut]:
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        try:
            await visible_ticket(session, agent, number)
        except TicketNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ticket #{number}") from None
        return [_timer_out(t) for t in await queries.timers(session, number)]


@router.get("/escalations", response_model=list[EscalationOut])
async def escalations(
    request: Request,
    agent: CurrentAgent,
    open_only: Annotated[bool, Query(alias="open")] = False,
    ticket: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EscalationOut]:
    """Newest first; `open=true` for those not yet acknowledged. Supervisors see every one, an
    agent those addressed to them."""
    async with runtime_of(request).db.read() as session:
        rows = await queries.escalations(
            session, agent, open_only=open_only, ticket_id=ticket, limit=limit
        )
        return [_escalation_out(e) for e in rows]


@router.post("/escalations/{escalation_id}/acknowledge", response_model=EscalationOut)
async def acknowledge(
    escalation_id: Annotated[int, Path(ge=1, le=MAX_ID)], agent: Overseer, request: Request
) -> EscalationOut:
    """A supervisor has seen it and taken charge."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        try:
            escalation = await queries.acknowledge(
                session, escalation_id, agent, now=runtime.clock.now()
            )
        except LookupError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except queries.EscalationError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        return _escalation_out(escalation)


def _timer_out(timer: SlaTimer) -> TimerOut:
    return TimerOut(
        id=timer.id,
        metric=timer.metric,
        policy=timer.policy,
        calendar=timer.calendar,
        status=timer.status.value,
        breached=timer.breached_at is not None,
        target_seconds=timer.target_seconds,
        used_seconds=timer.used_seconds,
        started_at=timer.started_at,
        due_at=timer.due_at,
        next_step_at=timer.next_fire_at,
        steps_fired=timer.step,
        breached_at=timer.breached_at,
        ended_at=timer.ended_at,
    )


def _escalation_out(escalation: Escalation) -> EscalationOut:
    return EscalationOut(
        id=escalation.id,
        ticket=escalation.ticket_id,
        level=escalation.level,
        reason=escalation.reason,
        recipients=escalation.recipients,
        raised_at=escalation.raised_at,
        notify_after=escalation.notify_after,
        acknowledged_at=escalation.acknowledged_at,
        acknowledged_by=escalation.acknowledged_by,
    )
