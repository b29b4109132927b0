"""The supervisor dashboard: escalations to acknowledge (live), service figures per team and
agent over a chosen period with server-drawn charts, load against capacity, the holding queue.
Supervisors and admins only; the figures are the reports API's (`helpdesk/reports/`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helpdesk.reports.period import PeriodError, parse_period
from helpdesk.sla import queries as sla_queries
from helpdesk.staff.permissions import sees_all
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID
from helpdesk.web.workspace.charts import bar_chart
from helpdesk.web.workspace.dashboard_data import open_escalations, read_dashboard, since
from helpdesk.web.workspace.pages import PageAgent, check_csrf, overseers_only, page

router = APIRouter(include_in_schema=False)


@router.get("/workspace/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, agent: PageAgent) -> Response:
    if (refused := overseers_only(request, agent)) is not None:
        return refused
    runtime = runtime_of(request)
    q = request.query_params
    chosen = {"from": q.get("from", "")[:40], "to": q.get("to", "")[:40], "tz": q.get("tz", "UTC")}
    error = ""
    now = runtime.clock.now()
    try:
        period = parse_period(chosen["from"] or None, chosen["to"] or None, chosen["tz"][:64], now)
    except PeriodError as exc:
        error = str(exc)
        period = parse_period(None, None, "UTC", now)
    async with runtime.db.read() as session:
        board = await read_dashboard(session, agent, period)
    return page(
        request,
        agent,
        "dashboard.html",
        board=board,
        chosen=chosen,
        error=error,
        now=now,
        since=since,
        charts=_charts(board.by_team, board.by_agent),
    )


@router.get("/workspace/dashboard/escalations", response_class=HTMLResponse)
async def escalations_fragment(request: Request, agent: PageAgent) -> Response:
    """Only the escalations list: what the page swaps in when the feed says one was raised."""
    if (refused := overseers_only(request, agent)) is not None:
        return refused
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        rows = await open_escalations(session, agent)
    return page(
        request,
        agent,
        "dashboard_escalations.html",
        escalations=rows,
        now=runtime.clock.now(),
        since=since,
    )


@router.post("/workspace/escalations/{escalation_id}/acknowledge")
async def acknowledge(
    request: Request,
    agent: PageAgent,
    escalation_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> Response:
    await check_csrf(request)
    if not sees_all(agent):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only supervisors and admins acknowledge")
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        try:
            await sla_queries.acknowledge(session, escalation_id, agent, now=runtime.clock.now())
        except LookupError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        except sla_queries.EscalationError:
            pass  # acknowledged by someone else meanwhile: the list shows it gone either way
    return RedirectResponse("/workspace/dashboard", status_code=status.HTTP_303_SEE_OTHER)


def _name(row: dict[str, Any]) -> str:
    group = row.get("group") or {}
    return str(group.get("name") or "everyone")


def _charts(
    by_team: dict[str, list[dict[str, Any]]], by_agent: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """The SVG charts: breach rate and first-response time (median) per team and per agent,
    satisfaction per team."""

    def rows(source: list[dict[str, Any]], key: str, scale: float) -> list[tuple[str, float]]:
        return [(_name(r), float(r[key]) * scale) for r in source if r.get(key) is not None]

    return {
        "breach_team": bar_chart(
            "Breach rate by team (%)", rows(by_team["sla-breaches"], "rate", 100)
        ),
        "breach_agent": bar_chart(
            "Breach rate by agent (%)", rows(by_agent["sla-breaches"], "rate", 100)
        ),
        "response_team": bar_chart(
            "First response, median (min) by team",
            rows(by_team["first-response-time"], "p50_seconds", 1 / 60),
        ),
        "response_agent": bar_chart(
            "First response, median (min) by agent",
            rows(by_agent["first-response-time"], "p50_seconds", 1 / 60),
        ),
        "satisfaction_team": bar_chart(
            "Satisfied (4-5 of 5, %) by team",
            rows(by_team["satisfaction"], "share_satisfied", 100),
        ),
    }
