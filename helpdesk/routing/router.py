"""Routing a batch of tickets in the caller's transaction: lock the tickets, read what is
known, lock the agents who could take them, decide (`pipeline.decide`), then assign or hold.

Why it is safe across processes on PostgreSQL: every claim locks the rows of the agents it may
give tickets to (`FOR UPDATE`, in id order) and, before giving an agent a ticket, counts their
open tickets under that lock, so two processes never push one agent past capacity; the ticket
rows are locked too, and a ticket that has an assignee is never assigned again. On SQLite
writers are serialised anyway. Locks are always taken tickets first, then agents in id order,
so routers never deadlock.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

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
from helpdesk.routing.pipeline import (
    Candidate,
    Context,
    Decision,
    Relationship,
    Screened,
    decide,
)
from helpdesk.routing.profiles import candidates, exact_loads
from helpdesk.routing.rules import Rule, first_match
from helpdesk.routing.settings import RoutingSettings
from helpdesk.storage.among import among
from helpdesk.storage.base import table_of
from helpdesk.storage.event_log import record
from helpdesk.tickets.models import OPEN_STATUSES, AuditEntry, AuthorType, Priority, Ticket

URGENCY = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}


@dataclass(slots=True)
class Routed:
    assigned: dict[int, int] = field(default_factory=dict)
    held: list[int] = field(default_factory=list)
    # Tickets another process holds locked (only with skip_locked): routed there.
    skipped: int = 0
    decisions: dict[int, Decision] = field(default_factory=dict)


class Router:
    def __init__(
        self, settings: RoutingSettings, *, is_sqlite: bool, key_tier: str = "key"
    ) -> None:
        self.settings = settings
        self._is_sqlite = is_sqlite
        self._key_tier = key_tier

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
        relationships = await relationships_for(
            session, {t.customer_id for t in tickets}, key_tier=self._key_tier
        )
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
        verified: set[int] = set()
        if len(tickets) > 1 and locked:
            # A batch is likely to give several agents tickets: count them all in one query.
            weights = {agent_id: p.channel_weights for agent_id, p in locked.items()}
            loads = await exact_loads(session, locked, weights, self.settings.channel_weights)
            for candidate in pool:
                if candidate.agent_id in loads:
                    candidate.load = loads[candidate.agent_id]
            verified.update(loads)
        strategies = await self._strategies(session, team_ids)
        holds = await self._holds(session, [t.id for t in tickets])
        by_team = _pools(pool)
        by_id = {c.agent_id: c for c in pool}
        screened: Screened = {}
        writes = _Writes()
        for ticket in sorted(tickets, key=lambda t: (URGENCY[t.priority], t.created_at, t.id)):
            rule = matched[ticket.id]
            relationship = relationships.get(ticket.customer_id, Relationship())
            team_id = rule.team_id if rule else None
            ticket_pool = list(by_team.get(team_id, []) if team_id else pool)
            base_size = len(ticket_pool)
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
            while True:
                decision = decide(
                    facts[ticket.id],
                    rule,
                    ticket_pool,
                    relationship,
                    context,
                    held_since=hold.held_since if hold else now,
                    now=now,
                    # Shared only between tickets whose candidates are the plain team pool.
                    screened=screened if len(ticket_pool) == base_size else None,
                )
                if decision.agent_id is None or decision.agent_id in verified:
                    break
                # The stored load may lag (a ticket resolved or reassigned elsewhere): count
                # the chosen agent's tickets under their lock before giving them one more.
                chosen = by_id[decision.agent_id]
                verified.add(chosen.agent_id)
                exact = await self._exact_load(session, chosen)
                if exact == chosen.load:
                    break
                chosen.load = exact
            if excluded is not None:
                decision = replace(
                    decision, reason=f"Not given back to agent {excluded}.\n{decision.reason}"
                )
            result.decisions[ticket.id] = decision
            if rule is not None and rule.priority:
                ticket.priority = Priority(rule.priority)
            if decision.agent_id is not None:
                agent = by_id[decision.agent_id]
                self._assign(session, writes, ticket, agent, decision, rule, trigger, now)
                result.assigned[ticket.id] = agent.agent_id
            else:
                self._hold(writes, ticket, hold, decision, trigger, now)
                result.held.append(ticket.id)
        if writes.tickets:
            await session.execute(update(Ticket), writes.tickets)
        if writes.holds:
            await session.execute(insert(table_of(HeldTicket)), writes.holds)
        if writes.decisions:
            await session.execute(insert(table_of(RoutingDecision)), writes.decisions)
        if writes.audit:
            await session.execute(insert(table_of(AuditEntry)), writes.audit)
        if result.assigned:
            await session.execute(
                delete(HeldTicket)
                .where(HeldTicket.ticket_id.in_(list(result.assigned)))
                # The loaded holds are not touched again; finding them all costs more.
                .execution_options(synchronize_session=False)
            )
        for agent_id, profile in locked.items():
            profile.load = by_id[agent_id].load
            profile.last_assigned_at = by_id[agent_id].last_assigned_at
        return result

    def _assign(
        self,
        session: AsyncSession,
        writes: _Writes,
        ticket: Ticket,
        agent: Candidate,
        decision: Decision,
        rule: Rule | None,
        trigger: str,
        now: datetime,
    ) -> None:
        agent.given(agent.ticket_weight(ticket.channel, self.settings.channel_weights), now)
        team_id = ticket.team_id if decision.team_id is None else decision.team_id
        values = {"assignee_id": agent.agent_id, "team_id": team_id, "updated_at": now}
        writes.tickets.append({"id": ticket.id, **values})
        for name, value in values.items():
            # Written in one statement for the batch below; the loaded object agrees with it.
            set_committed_value(ticket, name, value)
        writes.decisions.append(
            {
                "ticket_id": ticket.id,
                "at": now,
                "outcome": "assigned",
                "agent_id": agent.agent_id,
                "actor_id": None,
                "trigger": trigger,
                "reason": decision.reason,
                "detail": {"rule": rule.name if rule else None, "chosen_as": decision.chosen_as},
            }
        )
        # The audit trail's automatic entry (`audit.automatic`), written in bulk.
        writes.audit.append(
            {
                "at": now,
                "actor_type": AuthorType.SYSTEM,
                "actor_id": None,
                "ticket_id": ticket.id,
                "action": "ticket.routed",
                "detail": {"agent_id": agent.agent_id, "reason": decision.reason},
            }
        )
        record(session, TicketAssigned(ticket.id, agent.agent_id, None, "routing"))

    def _hold(
        self,
        writes: _Writes,
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
        writes.holds.append(
            {
                "ticket_id": ticket.id,
                "urgency": urgency,
                "held_since": now,
                "team_id": decision.team_id,
                "wait_for_id": decision.wait_for_id,
                "wait_until": decision.wait_until,
                "reason": decision.reason,
            }
        )
        writes.decisions.append(
            {
                "ticket_id": ticket.id,
                "at": now,
                "outcome": "held",
                "agent_id": None,
                "actor_id": None,
                "trigger": trigger,
                "reason": decision.reason,
                "detail": {"wait_for_id": decision.wait_for_id},
            }
        )

    async def _lock_tickets(
        self, session: AsyncSession, ticket_ids: Sequence[int], skip_locked: bool
    ) -> list[Ticket]:
        query = select(Ticket).where(among(session, Ticket.id, ticket_ids)).order_by(Ticket.id)
        if not self._is_sqlite:
            query = query.with_for_update(skip_locked=skip_locked)
        return list(await session.scalars(query))

    async def _lock_agents(
        self, session: AsyncSession, pool: list[Candidate]
    ) -> dict[int, RoutingProfile]:
        """Lock the profiles of the agents who could take a ticket now (in id order), and read
        their stored loads under the lock."""
        ids = [c.agent_id for c in pool if c.active and c.presence == "online"]
        if not ids:
            return {}
        query = (
            select(RoutingProfile)
            .where(RoutingProfile.agent_id.in_(ids))
            .order_by(RoutingProfile.agent_id)
            .execution_options(populate_existing=True)
        )
        if not self._is_sqlite:
            query = query.with_for_update()
        profiles = {p.agent_id: p for p in await session.scalars(query)}
        for candidate in pool:
            if candidate.agent_id in profiles:
                candidate.load = profiles[candidate.agent_id].load
        return profiles

    async def _exact_load(self, session: AsyncSession, candidate: Candidate) -> int:
        weights = {candidate.agent_id: candidate.channel_weights}
        loads = await exact_loads(
            session, [candidate.agent_id], weights, self.settings.channel_weights
        )
        return loads[candidate.agent_id]

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
        rows = await session.scalars(
            select(HeldTicket).where(among(session, HeldTicket.ticket_id, ticket_ids))
        )
        return {row.ticket_id: row for row in rows}


@dataclass(slots=True)
class _Writes:
    """Rows a batch inserts in one statement each, not object by object."""

    tickets: list[dict[str, object]] = field(default_factory=list)
    holds: list[dict[str, object]] = field(default_factory=list)
    decisions: list[dict[str, object]] = field(default_factory=list)
    audit: list[dict[str, object]] = field(default_factory=list)


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
