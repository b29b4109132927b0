"""Routing a batch of tickets in the caller's transaction: lock the tickets, read what is
known, lock the agents who could take them, decide (`pipeline.decide`), then assign or hold.

Why it is safe across processes on PostgreSQL: every claim locks the rows of the agents it may
give tickets to (`FOR UPDATE`, in id order) and counts their open tickets after taking the lock,
so two processes never push one agent past capacity; the ticket rows are locked too, and a
ticket that has an assignee is never assigned again. On SQLite writers are serialised anyway.
Locks are always taken tickets first, then agents in id order, so routers never deadlock.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.events.types import TicketAssigned
from helpdesk.routing.facts import rules_in_force, ticket_facts
from helpdesk.routing.managers import relationships_for
from helpdesk.routing.models import (
    HeldTicket,
    RoutingDecision,
    RoutingProfile,
    Strategy,
    TeamRouting,
)
from helpdesk.routing.pipeline import Candidate, Context, Decision, Relationship, decide
from helpdesk.routing.profiles import candidates, exact_loads
from helpdesk.routing.rules import Rule, first_match
from helpdesk.routing.settings import RoutingSettings
from helpdesk.storage.event_log import record
from helpdesk.tickets import audit
from helpdesk.tickets.models import OPEN_STATUSES, AuthorType, Priority, Ticket

URGENCY = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}


@dataclass(slots=True)
class Routed:
    assigned: dict[int, int] = field(default_factory=dict)
    held: list[int] = field(default_factory=list)
    # Tickets another process holds locked (only with skip_locked): routed there.
    skipped: int = 0
    decisions: dict[int, Decision] = field(default_factory=dict)


class Router:
    def __init__(self, settings: RoutingSettings, *, is_sqlite: bool) -> None:
        self.settings = settings
        self._is_sqlite = is_sqlite

    async def route(
        self,
        session: AsyncSession,
        ticket_ids: Sequence[int],
        trigger: str,
        *,
        now: datetime,
        skip_locked: bool = False,
        exclude: dict[int, int] | None = None,
    ) -> Routed:
        """Assign each open, unassigned ticket of `ticket_ids`, or hold it. `exclude` maps a
        ticket to an agent who must not get it back (they handed it back)."""
        result = Routed()
        tickets = await self._lock_tickets(session, ticket_ids, skip_locked)
        result.skipped = len(set(ticket_ids)) - len(tickets)
        tickets = [t for t in tickets if t.assignee_id is None and t.status in OPEN_STATUSES]
        if not tickets:
            return result
        rules = await rules_in_force(session, self.settings.rules)
        relationships = await relationships_for(session, {t.customer_id for t in tickets})
        facts = await ticket_facts(
            session,
            tickets,
            relationships,
            trigger=trigger,
            with_text=any(r._keywords is not None for r in rules),
        )
        matched = {t.id: first_match(rules, facts[t.id]) for t in tickets}
        team_ids = {r.team_id for r in matched.values() if r is not None and r.team_id}
        people = {
            agent_id
            for rel in relationships.values()
            for agent_id in (rel.manager_id, rel.backup_id)
            if agent_id is not None
        }
        every_agent = any(r is None or r.team_id is None for r in matched.values())
        pool = await candidates(
            session,
            team_ids=team_ids,
            agent_ids=people,
            every_agent=every_agent,
            settings=self.settings,
            now=now,
        )
        locked = await self._lock_agents(session, pool)
        strategies = await self._strategies(session, team_ids)
        holds = await self._holds(session, [t.id for t in tickets])
        by_team = _pools(pool)
        by_id = {c.agent_id: c for c in pool}
        for ticket in sorted(tickets, key=lambda t: (URGENCY[t.priority], t.created_at, t.id)):
            rule = matched[ticket.id]
            relationship = relationships.get(ticket.customer_id, Relationship())
            team_id = rule.team_id if rule else None
            ticket_pool = list(by_team.get(team_id, []) if team_id else pool)
            for extra in (relationship.manager_id, relationship.backup_id):
                if extra in by_id and by_id[extra] not in ticket_pool:
                    ticket_pool.append(by_id[extra])
            excluded = (exclude or {}).get(ticket.id)
            if excluded is not None:
                ticket_pool = [c for c in ticket_pool if c.agent_id != excluded]
                relationship = _without(relationship, excluded)
            hold = holds.get(ticket.id)
            context = Context(
                self.settings.channel_weights,
                timedelta(minutes=self.settings.key_account_wait_minutes),
                strategies.get(team_id or 0, Strategy.LEAST_LOADED),
            )
            decision = decide(
                facts[ticket.id],
                rule,
                ticket_pool,
                relationship,
                context,
                held_since=hold.held_since if hold else now,
                now=now,
            )
            if excluded is not None:
                decision = replace(
                    decision, reason=f"Not given back to agent {excluded}.\n{decision.reason}"
                )
            result.decisions[ticket.id] = decision
            if rule is not None and rule.priority:
                ticket.priority = Priority(rule.priority)
            if decision.agent_id is not None:
                agent = by_id[decision.agent_id]
                self._assign(session, ticket, agent, decision, rule, trigger, now)
                result.assigned[ticket.id] = agent.agent_id
            else:
                self._hold(session, ticket, hold, decision, trigger, now)
                result.held.append(ticket.id)
        if result.assigned:
            await session.execute(
                delete(HeldTicket).where(HeldTicket.ticket_id.in_(list(result.assigned)))
            )
        for agent_id, profile in locked.items():
            profile.load = by_id[agent_id].load
            profile.last_assigned_at = by_id[agent_id].last_assigned_at
        return result

    def _assign(
        self,
        session: AsyncSession,
        ticket: Ticket,
        agent: Candidate,
        decision: Decision,
        rule: Rule | None,
        trigger: str,
        now: datetime,
    ) -> None:
        agent.load += agent.ticket_weight(ticket.channel, self.settings.channel_weights)
        agent.last_assigned_at = now
        ticket.assignee_id = agent.agent_id
        if decision.team_id is not None:
            ticket.team_id = decision.team_id
        ticket.updated_at = now
        session.add(
            RoutingDecision(
                ticket_id=ticket.id,
                at=now,
                outcome="assigned",
                agent_id=agent.agent_id,
                trigger=trigger,
                reason=decision.reason,
                detail={"rule": rule.name if rule else None, "chosen_as": decision.chosen_as},
            )
        )
        audit.automatic(
            session,
            AuthorType.SYSTEM,
            at=now,
            ticket_id=ticket.id,
            action="ticket.routed",
            agent_id=agent.agent_id,
            reason=decision.reason,
        )
        record(session, TicketAssigned(ticket.id, agent.agent_id, None, "routing"))

    def _hold(
        self,
        session: AsyncSession,
        ticket: Ticket,
        hold: HeldTicket | None,
        decision: Decision,
        trigger: str,
        now: datetime,
    ) -> None:
        if decision.team_id is not None:
            ticket.team_id = decision.team_id
        urgency = URGENCY[ticket.priority]
        if hold is not None:
            # Still waiting: the queue keeps its place; a decision is written only when new.
            hold.urgency, hold.team_id = urgency, decision.team_id
            hold.wait_for_id, hold.wait_until = decision.wait_for_id, decision.wait_until
            hold.reason = decision.reason
            return
        session.add(
            HeldTicket(
                ticket_id=ticket.id,
                urgency=urgency,
                held_since=now,
                team_id=decision.team_id,
                wait_for_id=decision.wait_for_id,
                wait_until=decision.wait_until,
                reason=decision.reason,
            )
        )
        session.add(
            RoutingDecision(
                ticket_id=ticket.id,
                at=now,
                outcome="held",
                trigger=trigger,
                reason=decision.reason,
                detail={"wait_for_id": decision.wait_for_id},
            )
        )

    async def _lock_tickets(
        self, session: AsyncSession, ticket_ids: Sequence[int], skip_locked: bool
    ) -> list[Ticket]:
        query = select(Ticket).where(Ticket.id.in_(list(ticket_ids))).order_by(Ticket.id)
        if not self._is_sqlite:
            query = query.with_for_update(skip_locked=skip_locked)
        return list(await session.scalars(query))

    async def _lock_agents(
        self, session: AsyncSession, pool: list[Candidate]
    ) -> dict[int, RoutingProfile]:
        """Lock the profiles of the agents who could take a ticket now, and count their load
        afresh under the lock."""
        ids = [c.agent_id for c in pool if c.active and c.presence == "online"]
        if not ids:
            return {}
        query = select(RoutingProfile).where(RoutingProfile.agent_id.in_(ids))
        query = query.order_by(RoutingProfile.agent_id)
        if not self._is_sqlite:
            query = query.with_for_update()
        profiles = {p.agent_id: p for p in await session.scalars(query)}
        weights = {agent_id: p.channel_weights for agent_id, p in profiles.items()}
        loads = await exact_loads(session, profiles, weights, self.settings.channel_weights)
        for candidate in pool:
            if candidate.agent_id in loads:
                candidate.load = loads[candidate.agent_id]
        return profiles

    async def _strategies(
        self, session: AsyncSession, team_ids: Collection[int]
    ) -> dict[int, Strategy]:
        if not team_ids:
            return {}
        rows = await session.scalars(
            select(TeamRouting).where(TeamRouting.team_id.in_(list(team_ids)))
        )
        return {row.team_id: row.strategy for row in rows}

    async def _holds(self, session: AsyncSession, ticket_ids: list[int]) -> dict[int, HeldTicket]:
        rows = await session.scalars(select(HeldTicket).where(HeldTicket.ticket_id.in_(ticket_ids)))
        return {row.ticket_id: row for row in rows}


def _pools(pool: list[Candidate]) -> dict[int | None, list[Candidate]]:
    teams: dict[int | None, list[Candidate]] = {}
    for candidate in pool:
        for team_id in candidate.teams:
            teams.setdefault(team_id, []).append(candidate)
    return teams


def _without(relationship: Relationship, agent_id: int) -> Relationship:
    return Relationship(
        manager_id=None if relationship.manager_id == agent_id else relationship.manager_id,
        backup_id=None if relationship.backup_id == agent_id else relationship.backup_id,
        key_account=relationship.key_account,
    )
