"""Every report by name, how its rows are labelled, and the summary the dashboard reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.reports.bot import bot_decisions
from helpdesk.reports.breaches import sla_breaches
from helpdesk.reports.complaints import complaints_by_root_cause
from helpdesk.reports.first_contact import first_contact_resolution
from helpdesk.reports.query import GroupBy, ReportQuery
from helpdesk.reports.ratings import recommend_score, satisfaction
from helpdesk.reports.reopens import reopen_rate
from helpdesk.reports.times import first_response_time, resolution_time
from helpdesk.reports.value_share import value_by_tier
from helpdesk.staff.models import Agent, Team

Figures = dict[Any, dict[str, Any]]
Grouped = Callable[[AsyncSession, ReportQuery], Awaitable[Figures]]

# The grouped reports: per period, team and agent.
GROUPED: dict[str, Grouped] = {
    "first-contact-resolution": first_contact_resolution,
    "reopen-rate": reopen_rate,
    "first-response-time": first_response_time,
    "resolution-time": resolution_time,
    "satisfaction": satisfaction,
    "recommend-score": recommend_score,
    "complaints": complaints_by_root_cause,
    "sla-breaches": sla_breaches,
    "bot": bot_decisions,
}
# A snapshot of the whole desk, for supervisors and admins only.
VALUE_SHARE = "value-share"
NAMES = (*GROUPED, VALUE_SHARE)


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    rows: list[dict[str, Any]]


async def run(session: AsyncSession, name: str, query: ReportQuery) -> Report:
    """One report; `name` must be one of NAMES."""
    if name == VALUE_SHARE:
        return Report(name, await value_by_tier(session))
    figures = await GROUPED[name](session, query)
    return Report(name, await _labelled(session, query.group_by, figures))


async def summary(
    session: AsyncSession, query: ReportQuery, *, with_value: bool
) -> dict[str, Report]:
    """Every report at once (the value share only `with_value`), in one read."""
    names = [*GROUPED, VALUE_SHARE] if with_value else list(GROUPED)
    return {name: await run(session, name, query) for name in names}


async def _labelled(
    session: AsyncSession, group_by: GroupBy, figures: Figures
) -> list[dict[str, Any]]:
    """Rows with their group's id and name, largest groups' names first by name; one row
    with null figures when there was nothing to count."""
    if group_by == GroupBy.NONE:
        return [{"group": None, **(figures.get(None) or {})}]
    ids = [k for k in figures if k is not None]
    model = Team if group_by == GroupBy.TEAM else Agent
    names: dict[int, str] = {}
    if ids:
        found = await session.execute(select(model.id, model.name).where(model.id.in_(ids)))
        names = {row[0]: row[1] for row in found}
    nobody = "no team" if group_by == GroupBy.TEAM else "unassigned"
    rows = [
        {"group": {"id": k, "name": names.get(k, nobody) if k is not None else nobody}, **f}
        for k, f in figures.items()
    ]
    return sorted(rows, key=lambda row: (row["group"]["id"] is None, row["group"]["name"]))
