"""What routing knows about tickets, read in bulk: customer, language, tier, first words,
and the rules in force (configured ones first, then those kept through the API)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Customer
from helpdesk.routing.models import RoutingRule
from helpdesk.routing.pipeline import Relationship
from helpdesk.routing.rules import Rule, TicketFacts
from helpdesk.routing.settings import RuleSettings
from helpdesk.staff.models import Team
from helpdesk.storage.among import among
from helpdesk.tickets.models import Direction, Message, Ticket

log = logging.getLogger(__name__)

# Keywords are looked for in the subject and the start of the first message.
TEXT_LIMIT = 2000


async def rules_in_force(session: AsyncSession, configured: Sequence[RuleSettings]) -> list[Rule]:
    teams = {t.name: t.id for t in await session.scalars(select(Team))}
    names = {v: k for k, v in teams.items()}
    rules = []
    for item in configured:
        team_id = teams.get(item.team) if item.team else None
        if item.team and team_id is None:
            # A typo in the configuration must not stop routing: the rule is left out, loudly.
            log.error("routing rule %r left out: there is no team named %r", item.name, item.team)
            continue
        rules.append(
            Rule.build(
                item.name,
                dict(item.when),
                team_id=team_id,
                team_name=item.team,
                skills=item.skills,
                priority=item.priority,
            )
        )
    stored = await session.scalars(
        select(RoutingRule).where(RoutingRule.active).order_by(RoutingRule.position, RoutingRule.id)
    )
    for row in stored:
        rules.append(
            Rule.build(
                row.name,
                row.conditions,
                team_id=row.team_id,
                team_name=names.get(row.team_id or 0),
                skills=row.skills,
                priority=row.priority,
            )
        )
    return rules


async def ticket_facts(
    session: AsyncSession,
    tickets: Sequence[Ticket],
    relationships: dict[int, Relationship],
    *,
    trigger: str,
    with_text: bool,
) -> dict[int, TicketFacts]:
    customer_ids = {t.customer_id for t in tickets}
    customers = {
        row.id: row
        for row in await session.execute(
            select(Customer.id, Customer.language).where(among(session, Customer.id, customer_ids))
        )
    }
    texts = await _first_texts(session, [t.id for t in tickets]) if with_text else {}
    facts = {}
    for ticket in tickets:
        customer = customers.get(ticket.customer_id)
        relationship = relationships.get(ticket.customer_id, Relationship())
        facts[ticket.id] = TicketFacts(
            ticket_id=ticket.id,
            channel=ticket.channel,
            kind=ticket.kind.value,
            priority=ticket.priority.value,
            text=f"{ticket.subject}\n{texts.get(ticket.id, '')}",
            language=(customer.language or "").lower() or None if customer else None,
            tier=relationship.tier or "standard",
            key_account=relationship.key_account,
            trigger=trigger,
            customer_id=ticket.customer_id,
            entry_point=ticket.entry_point,
        )
    return facts


async def _first_texts(session: AsyncSession, ticket_ids: list[int]) -> dict[int, str]:
    first = (
        select(func.min(Message.id))
        .where(among(session, Message.ticket_id, ticket_ids), Message.direction == Direction.IN)
        .group_by(Message.ticket_id)
    )
    rows = await session.execute(
        select(Message.ticket_id, func.substr(Message.text, 1, TEXT_LIMIT)).where(
            Message.id.in_(first)
        )
    )
    return {ticket_id: text or "" for ticket_id, text in rows}
