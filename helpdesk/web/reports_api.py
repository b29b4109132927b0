"""Reports in the API: one report by name, or all of them for the dashboard. Supervisors and
admins see every team; an agent sees its own teams' figures (and its own tickets') only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel

from helpdesk.reports import catalog
from helpdesk.reports.period import PeriodError, parse_period
from helpdesk.reports.query import GroupBy, Period, ReportQuery, Scope
from helpdesk.staff.models import Agent
from helpdesk.staff.permissions import OVERSEERS, role_names, sees_all
from helpdesk.web.auth import CurrentAgent
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID

router = APIRouter(prefix="/api/reports", tags=["reports"])


class PeriodOut(BaseModel):
    start: datetime
    end: datetime
    time_zone: str


class ReportOut(BaseModel):
    report: str
    period: PeriodOut
    group_by: str
    # Per group: {"group": {"id", "name"} or null, ...the report's figures}; see docs/reports.md.
    rows: list[dict[str, Any]]


class SummaryOut(BaseModel):
    period: PeriodOut
    group_by: str
    # Every report by name; "value-share" only for supervisors and admins.
    reports: dict[str, list[dict[str, Any]]]


FromParam = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=40,
        description="ISO date (its whole day) or time; 30 days before `to` when left out",
    ),
]
ToParam = Annotated[
    str | None,
    Query(alias="to", max_length=40, description="ISO date (included) or time (excluded)"),
]
TzParam = Annotated[
    str, Query(max_length=64, description="time zone the dates are read in (IANA name)")
]
TeamParam = Annotated[int | None, Query(ge=1, le=MAX_ID)]
AgentParam = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _query(
    request: Request,
    agent: Agent,
    start: str | None,
    end: str | None,
    tz: str,
    group_by: GroupBy,
    team: int | None,
    of_agent: int | None,
) -> ReportQuery:
    try:
        period = parse_period(start, end, tz, runtime_of(request).clock.now())
    except PeriodError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    scope = Scope.of(agent)
    if team is not None and not scope.permits_team(team):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "you may see your own teams' figures only")
    return ReportQuery(period, group_by, team, of_agent, scope)


def _period_out(period: Period) -> PeriodOut:
    return PeriodOut(start=period.start, end=period.end, time_zone=period.time_zone)


@router.get("/summary", response_model=SummaryOut)
async def summary(
    request: Request,
    agent: CurrentAgent,
    start: FromParam = None,
    end: ToParam = None,
    tz: TzParam = "UTC",
    group_by: GroupBy = GroupBy.NONE,
    team: TeamParam = None,
    of_agent: Annotated[int | None, Query(alias="agent", ge=1, le=MAX_ID)] = None,
) -> SummaryOut:
    """Every report over one period, for the supervisor dashboard."""
    query = _query(request, agent, start, end, tz, group_by, team, of_agent)
    async with runtime_of(request).db.read() as session:
        reports = await catalog.summary(session, query, with_value=sees_all(agent))
    return SummaryOut(
        period=_period_out(query.period),
        group_by=group_by.value,
        reports={name: report.rows for name, report in reports.items()},
    )


@router.get("/{name}", response_model=ReportOut)
async def report(
    request: Request,
    agent: CurrentAgent,
    name: Annotated[str, Path(max_length=40, description=", ".join(catalog.NAMES))],
    start: FromParam = None,
    end: ToParam = None,
    tz: TzParam = "UTC",
    group_by: GroupBy = GroupBy.NONE,
    team: TeamParam = None,
    of_agent: Annotated[int | None, Query(alias="agent", ge=1, le=MAX_ID)] = None,
) -> ReportOut:
    if name not in catalog.NAMES:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no report {name!r}; one of {', '.join(catalog.NAMES)}"
        )
    if name == catalog.VALUE_SHARE and not sees_all(agent):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"only {role_names(OVERSEERS)} see the value share"
        )
    query = _query(request, agent, start, end, tz, group_by, team, of_agent)
    async with runtime_of(request).db.read() as session:
        result = await catalog.run(session, name, query)
    return ReportOut(
        report=name, period=_period_out(query.period), group_by=group_by.value, rows=result.rows
    )
