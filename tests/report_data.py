"""A small desk with known times, ratings, complaints, timers and bot decisions, for the
report tests: every figure they check is computed by hand from the table below.

Period: 2026-03-01 (UTC). Support is alice and bob, Billing is carol.

  #  team     agent  created  1st reply  resolved  status    agent replies  1-5  0-10
  1  Support  alice  00:00    +600 s     +3600 s   resolved  1              5    10
  2  Support  alice  01:00    +1200 s    +7200 s   closed    2              3    7
  3  Support  bob    02:00    +1800 s    +10800 s  resolved  1              4    3
  4  Billing  carol  03:00    +300 s     -         open      1              -    9
  5  Billing  carol  04:00    +900 s     +5400 s   resolved  1              -    -
  6  -        -      05:00    -          +60 s     resolved  0 (the bot)    -    -
  7  Support  alice  Feb 20   +60 s      +120 s    resolved  1              1    0   (outside)
  8  Support  alice  00:30    +60 s      +120 s    closed    1              1    0   (merged)

Reopened: 2 (an agent set it back to open), 3 (the customer wrote again), 5 (the customer
said the complaint's fix did not work). Not reopenings: 1 open -> resolved, 6 "the fix worked".
Complaints: 4 (unresolved), 5 (first "delay in fixing", latest "price").
SLA timers: 1 first response and resolution met in time; 2 first response breached;
4 first response in time, resolution breached.
Bot: answered on 6, handed over on 4, refused on 3; one more on 7 (outside the period).
Value: account Acme 800 (key); customer A 150 (standard); customer B 50 in Acme (so key);
customer C none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.models import Account, Customer
from helpdesk.kb.models import BotDecision, BotDecisionKind
from helpdesk.runtime import Runtime
from helpdesk.sla.models import SlaTimer, TimerStatus
from helpdesk.staff.models import Agent, Team
from helpdesk.tickets.models import (
    AuditEntry,
    AuthorType,
    ComplaintResolution,
    Direction,
    Message,
    Ticket,
    TicketKind,
    TicketStatus,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
S = timedelta(seconds=1)


async def ids(session: AsyncSession) -> dict[str, int]:
    agents = {row[0]: row[1] for row in await session.execute(select(Agent.email, Agent.id))}
    teams = {row[0]: row[1] for row in await session.execute(select(Team.name, Team.id))}
    return {
        "alice": agents["alice@example.test"],
        "bob": agents["bob@example.test"],
        "carol": agents["carol@example.test"],
        "Support": teams["Support"],
        "Billing": teams["Billing"],
    }


async def build(desk: Runtime) -> dict[str, int]:
    async with desk.db.transaction() as session:
        known = await ids(session)
        acme = Account(
            name="Acme", name_key="acme", value=800.0, tier="key", created_at=T0, updated_at=T0
        )
        session.add(acme)
        await session.flush()
        customers = [
            Customer(name="A", value=150.0, tier="standard", created_at=T0),
            Customer(name="B", value=50.0, tier="standard", account_id=acme.id, created_at=T0),
            Customer(name="C", created_at=T0),
        ]
        session.add_all(customers)
        await session.flush()
        rows = [
            # number, team, agent, created, first reply, resolved, status, replies, 1-5, 0-10, kind
            (1, "Support", "alice", T0, 600, 3600, "resolved", 1, 5, 10, "question"),
            (2, "Support", "alice", T0 + 3600 * S, 1200, 7200, "closed", 2, 3, 7, "question"),
            (3, "Support", "bob", T0 + 7200 * S, 1800, 10800, "resolved", 1, 4, 3, "question"),
            (4, "Billing", "carol", T0 + 10800 * S, 300, None, "open", 1, None, 9, "complaint"),
            (
                5,
                "Billing",
                "carol",
                T0 + 14400 * S,
                900,
                5400,
                "resolved",
                1,
                None,
                None,
                "complaint",
            ),
            (6, None, None, T0 + 18000 * S, None, 60, "resolved", 0, None, None, "question"),
            (
                7,
                "Support",
                "alice",
                datetime(2026, 2, 20, tzinfo=UTC),
                60,
                120,
                "resolved",
                1,
                1,
                0,
                "question",
            ),
            (8, "Support", "alice", T0 + 1800 * S, 60, 120, "closed", 1, 1, 0, "question"),
        ]
        tickets: dict[int, Ticket] = {}
        for number, team, agent, created, reply, resolved, status, replies, sat, nps, kind in rows:
            ticket = Ticket(
                id=number,
                subject=f"Ticket {number}",
                status=TicketStatus(status),
                kind=TicketKind(kind),
                channel="webchat",
                customer_id=customers[number % 3].id,
                team_id=known[team] if team else None,
                assignee_id=known[agent] if agent else None,
                created_at=created,
                updated_at=created,
                first_response_at=created + reply * S if reply is not None else None,
                resolved_at=created + resolved * S if resolved is not None else None,
                satisfaction=sat,
                recommend_score=nps,
            )
            session.add(ticket)
            tickets[number] = ticket
            await session.flush()
            session.add(_message(ticket, Direction.IN, AuthorType.CUSTOMER, created, None))
            for n in range(replies):
                moment = created + (reply or 0) * S + n * 60 * S
                session.add(
                    _message(ticket, Direction.OUT, AuthorType.AGENT, moment, ticket.assignee_id)
                )
            if number == 6:
                session.add(_message(ticket, Direction.OUT, AuthorType.BOT, created + 30 * S, None))
            # Internal notes are not replies.
            session.add(
                _message(ticket, Direction.NOTE, AuthorType.AGENT, created, ticket.assignee_id)
            )
        tickets[8].merged_into_id = 1
        session.add_all(
            [
                _audit(3, "ticket.reopened", AuthorType.SYSTEM, reason="wrote again"),
                _audit(
                    2,
                    "ticket.changed",
                    AuthorType.AGENT,
                    before={"status": "resolved"},
                    after={"status": "open"},
                ),
                _audit(5, "complaint.follow_up_answered", AuthorType.CUSTOMER, worked=False),
                _audit(
                    1,
                    "ticket.changed",
                    AuthorType.AGENT,
                    before={"status": "open"},
                    after={"status": "resolved"},
                ),
                _audit(6, "complaint.follow_up_answered", AuthorType.CUSTOMER, worked=True),
                _audit(
                    2,
                    "ticket.changed",
                    AuthorType.AGENT,
                    before={"status": "resolved"},
                    after={"status": "closed"},
                ),
                _audit(None, "customer.merged", AuthorType.AGENT),
            ]
        )
        for cause in ("delay in fixing", "price"):
            session.add(
                ComplaintResolution(ticket_id=5, root_cause=cause, remedy="done", resolved_at=T0)
            )
        session.add_all(
            [
                _timer(1, "first_response", None),
                _timer(1, "resolution", None),
                _timer(2, "first_response", T0 + 7200 * S),
                _timer(4, "first_response", None),
                _timer(4, "resolution", T0 + 20000 * S),
            ]
        )
        for number, kind, moment in (
            (6, BotDecisionKind.ANSWERED, T0 + 18000 * S),
            (4, BotDecisionKind.HANDED_OVER, T0 + 10800 * S),
            (3, BotDecisionKind.REFUSED, T0 + 7200 * S),
            (7, BotDecisionKind.ANSWERED, datetime(2026, 2, 20, tzinfo=UTC)),
        ):
            session.add(BotDecision(ticket_id=number, kind=kind, threshold=0.5, created_at=moment))
    return known


def _message(
    ticket: Ticket, direction: Direction, author: AuthorType, at: datetime, agent_id: int | None
) -> Message:
    return Message(
        ticket_id=ticket.id,
        direction=direction,
        author_type=author,
        agent_id=agent_id,
        channel=ticket.channel,
        text="text",
        created_at=at,
    )


def _audit(ticket_id: int | None, action: str, actor: AuthorType, **detail: Any) -> AuditEntry:
    return AuditEntry(
        at=T0, actor_type=actor, actor_id=None, ticket_id=ticket_id, action=action, detail=detail
    )


def _timer(ticket_id: int, metric: str, breached_at: datetime | None) -> SlaTimer:
    return SlaTimer(
        ticket_id=ticket_id,
        metric=metric,
        policy="standard",
        calendar="always",
        fingerprint="x",
        status=TimerStatus.MET,
        target_seconds=3600.0,
        started_at=T0,
        breached_at=breached_at,
        updated_at=T0,
    )
