"""What every report is asked: a period, a grouping, filters, and whose figures the caller may
see. And the conditions on tickets that follow from it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, false, null, or_

from helpdesk.staff.models import Agent
from helpdesk.staff.permissions import sees_all
from helpdesk.tickets.models import Ticket


class GroupBy(enum.StrEnum):
    NONE = "none"
    TEAM = "team"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC; the time zone only placed the boundaries and is shown back."""

    start: datetime
    end: datetime
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a report period needs aware times")
        if self.start >= self.end:
            raise ValueError("a report period must end after it starts")


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose tickets the caller may count: everyone's (supervisors, admins), or an agent's
    teams' and its own."""

    all: bool
    team_ids: tuple[int, ...] = ()
    agent_id: int | None = None

    @classmethod
    def of(cls, agent: Agent) -> Scope:
        if sees_all(agent):
            return cls(all=True)
        return cls(all=False, team_ids=tuple(t.id for t in agent.teams), agent_id=agent.id)

    @classmethod
    def everything(cls) -> Scope:
        return cls(all=True)

    def permits_team(self, team_id: int) -> bool:
        return self.all or team_id in self.team_ids


@dataclass(frozen=True, slots=True)
class ReportQuery:
    period: Period
    group_by: GroupBy = GroupBy.NONE
    team_id: int | None = None
    agent_id: int | None = None
    scope: Scope = Scope(all=True)


def in_scope(scope: Scope) -> ColumnElement[bool] | None:
    """A condition on Ticket, or None when the caller sees every ticket."""
    if scope.all:
        return None
    mine = Ticket.assignee_id == scope.agent_id
    return or_(Ticket.team_id.in_(scope.team_ids) if scope.team_ids else false(), mine)


def filters(query: ReportQuery) -> list[ColumnElement[bool]]:
    """The filters and the scope, on Ticket, without the period (reports place it)."""
    conditions: list[ColumnElement[bool]] = [Ticket.merged_into_id.is_(None)]
    if query.team_id is not None:
        conditions.append(Ticket.team_id == query.team_id)
    if query.agent_id is not None:
        conditions.append(Ticket.assignee_id == query.agent_id)
    scoped = in_scope(query.scope)
    if scoped is not None:
        conditions.append(scoped)
    return conditions


def created_in(query: ReportQuery) -> list[ColumnElement[bool]]:
    """The tickets a ticket report counts: created in the period, not merged away, filtered."""
    return [
        Ticket.created_at >= query.period.start,
        Ticket.created_at < query.period.end,
        *filters(query),
    ]


def group_key(group_by: GroupBy) -> SQLColumnExpression[Any] | None:
    """The column a report groups by: the ticket's team or its assignee as they are now; None
    for one row over everything."""
    if group_by == GroupBy.TEAM:
        return Ticket.team_id
    if group_by == GroupBy.AGENT:
        return Ticket.assignee_id
    return None


def keyed(group_by: GroupBy) -> tuple[SQLColumnExpression[Any], list[SQLColumnExpression[Any]]]:
    """The `k` column to select and what to GROUP BY for it (nothing for one row)."""
    key = group_key(group_by)
    if key is None:
        return null().label("k"), []
    return key.label("k"), [key]
