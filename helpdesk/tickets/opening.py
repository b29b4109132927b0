"""An agent opens a ticket: for a customer who phoned or walked in, or by writing first.

The customer is an existing one (in the agent's sight) or found or created by email address or
phone number, as intake does for a first-time sender. The first message is either a touch point
(`touchpoints.py`: phone, visit; never delivered) or a message the agent writes first on a
channel (email, Telegram, web chat), queued for delivery like any reply. The ticket, its first
message, the audit trail and the events commit together. A repeated idempotency key returns the
ticket the first request opened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.sanitize import clean_text
from helpdesk.customers import lookup
from helpdesk.customers.models import Customer, Identity
from helpdesk.customers.proactive import unasked_refusal
from helpdesk.events.types import TicketCreated, TouchPointLogged
from helpdesk.staff.models import Agent, Team
from helpdesk.storage import rows
from helpdesk.storage.base import Base
from helpdesk.storage.database import Database
from helpdesk.storage.event_log import record, type_names
from helpdesk.storage.one_statement import draw_ids, insert_with_events
from helpdesk.tickets import audit, touchpoints
from helpdesk.tickets.actions import TicketRuleError, reply
from helpdesk.tickets.models import (
    AuditEntry,
    AuthorType,
    Direction,
    Message,
    Priority,
    Ticket,
    TicketKind,
    TicketStatus,
)
from helpdesk.tickets.visibility import NotPermitted, check_assignment, customer_in_sight

# Channels an agent can write first on; the touch points are `touchpoints.TOUCH_POINTS`.
WRITTEN_CHANNELS = ("email", "telegram", "webchat")
SUBJECT_LENGTH = 200

# Whether this web chat visitor has the widget open now: the web layer knows, the core cannot.
ChatOpen = Callable[[str], bool]


class CustomerNotFound(Exception):
    """No such customer, or not one this agent may see (the two are not told apart)."""


@dataclass(frozen=True, slots=True)
class Contact:
    """Who the ticket is for: an existing customer, or an address to find or create one by."""

    customer_id: int | None = None
    email: str | None = None
    phone: str | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class Opening:
    contact: Contact
    subject: str
    channel: str
    text: str
    # For touch points: IN when the customer called or came, OUT when the agent did.
    direction: Direction = Direction.OUT
    duration_seconds: int | None = None
    # The customer asked to be contacted (a call-back, a follow-up): not a proactive message.
    customer_asked: bool = False
    team_id: int | None = None
    assignee_id: int | None = None
    priority: Priority = Priority.NORMAL
    kind: TicketKind = TicketKind.QUESTION
    idempotency_key: str | None = None
    # `customers.proactive_email_needs_consent`: the caller passes the setting.
    email_needs_consent: bool = True


@dataclass(frozen=True, slots=True)
class Opened:
    ticket: Ticket
    message: Message
    duplicate: bool = False
    customer_created: bool = False
    # Known without asking the database when the customer was created here.
    customer_name: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """What the reads before any write found (`plan`): the request checked, the repeat it is,
    or the customer and the identities it names. `write` does the rest."""

    opening: Opening
    subject: str
    key: str | None
    repeat: Opened | None = None
    customer_id: int | None = None
    # Normalised addresses the contact named, and the identities already stored for them.
    addresses: dict[str, str] = field(default_factory=dict)
    known: dict[str, int] = field(default_factory=dict)


async def open_ticket(
    session: AsyncSession, agent: Agent, opening: Opening, *, now: datetime, chat_open: ChatOpen
) -> Opened:
    """Raises TicketRuleError (the request cannot be done), NotPermitted (not by this agent),
    CustomerNotFound, or lookup.BadAddress."""
    planned = await plan(session, agent, opening)
    if planned.repeat is not None:
        return planned.repeat
    return await write(session, agent, planned, now=now, chat_open=chat_open)


async def plan(
    session: AsyncSession, agent: Agent, opening: Opening, *, look_for_repeat: bool = True
) -> Plan:
    """Only reads: a caller on SQLite runs them before taking the one writer's turn. What
    changes between this and `write` (the same key or address committed meanwhile) fails
    `write` on a unique constraint, and the caller runs both again.

    Without `look_for_repeat` a touch point's idempotency key is not looked up: a repeated key
    then fails `write` on the first message's unique external id, and the caller's next try
    (looking) returns the earlier ticket. Repeats are rare, so a caller saves a read on nearly
    every request by trying without it first. A written first message is always looked up:
    it goes through `reply`, which answers a repeated key with the earlier message rather
    than failing."""
    if opening.channel not in (*WRITTEN_CHANNELS, *touchpoints.TOUCH_POINTS):
        raise TicketRuleError(
            f"a ticket opens on one of {', '.join((*WRITTEN_CHANNELS, *touchpoints.TOUCH_POINTS))}"
        )
    subject = clean_text(opening.subject).strip()[:SUBJECT_LENGTH]
    if not subject:
        raise TicketRuleError("a ticket needs a subject")
    key = _first_message_key(agent, opening)
    inserted_directly = opening.channel in touchpoints.TOUCH_POINTS
    if key is not None and (look_for_repeat or not inserted_directly):
        earlier = await session.scalar(
            select(Message).where(Message.channel == opening.channel, Message.external_id == key)
        )
        if earlier is not None:
            ticket = await session.get(Ticket, earlier.ticket_id)
            assert ticket is not None
            return Plan(opening, subject, key, Opened(ticket, earlier, duplicate=True))
    await _check_placement(session, agent, opening)
    customer_id, addresses, known = await _find_customer(session, agent, opening.contact)
    return Plan(opening, subject, key, None, customer_id, addresses, known)


async def write(
    session: AsyncSession, agent: Agent, planned: Plan, *, now: datetime, chat_open: ChatOpen
) -> Opened:
    """The writes of a `plan` without a repeat: in the caller's write transaction."""
    opening = planned.opening
    customer_id, addressed, name = await _create_missing(session, planned, now)
    created = planned.customer_id is None
    if opening.channel in touchpoints.TOUCH_POINTS:
        return await _open_on_touch_point(
            session, agent, planned, customer_id, addressed, now=now, created=created, name=name
        )
    recipient = await _recipient(session, customer_id, opening, addressed, chat_open)
    ticket = _new_ticket(planned, customer_id, now)
    session.add(ticket)
    await session.flush()
    session.add(_opened_entry(agent, planned, ticket, created, now))
    record(session, _created(agent, ticket))
    outcome = await reply(
        session,
        agent,
        ticket,
        opening.text,
        now=now,
        idempotency_key=_reply_key(opening.idempotency_key),
    )
    assert outcome.message is not None
    # The address the agent chose: the outbox sends the first message there.
    outcome.message.identity_id = recipient.id
    return Opened(ticket, outcome.message, customer_created=created, customer_name=name)


async def _open_on_touch_point(
    session: AsyncSession,
    agent: Agent,
    planned: Plan,
    customer_id: int,
    addressed: dict[str, int],
    *,
    now: datetime,
    created: bool,
    name: str | None,
) -> Opened:
    """The ticket, the call or visit on it, both audit entries and both events: the rows
    `touchpoints.log` would write after a flush, inserted directly (`storage/rows.py`), since
    nothing else in the transaction reads them back."""
    point = _touch_point(planned.opening, addressed)
    ticket = _touch_point_ticket(planned, customer_id, now)
    await rows.insert_one(session, ticket)
    # The key was looked up by `plan`: a repeat has returned already.
    message = touchpoints.new_message(agent, ticket, point, now=now, external_id=planned.key)
    await rows.insert_one(session, message)
    trail, events = _logged(agent, planned, ticket, message, point, created=created, now=now)
    await rows.insert_all(session, trail)
    record(session, *events)
    return Opened(ticket, message, customer_created=created, customer_name=name)


async def open_on_touch_point_at_once(
    db: Database, session: AsyncSession, agent: Agent, planned: Plan, *, now: datetime
) -> Opened:
    """PostgreSQL: what `write` does for a touch point, as one statement on the connection of
    `session`, which `plan` read through (`Database.autocommit_session`,
    `storage/one_statement.py`): the new customer and identities, the ticket, the call or
    visit, both audit entries and both events. Ids are drawn first so that the rows and the
    events can name each other. A key or an address committed meanwhile fails the statement
    on a unique constraint, as it fails `write`."""
    opening = planned.opening
    missing = [(c, a) for c, a in planned.addresses.items() if c not in planned.known]
    created = planned.customer_id is None
    contact_name = opening.contact.name
    connection = await session.connection()
    ids = await draw_ids(
        connection,
        # The audit entries too: the statement's inserts run in no set order, and the
        # trail is read in id order.
        {Customer: int(created), Identity: len(missing), Ticket: 1, Message: 1, AuditEntry: 2},
    )
    new_rows: list[Base] = []
    customer_id, name = planned.customer_id, None
    if customer_id is None:
        channel, address = missing[0]
        customer = lookup.new_customer(channel, address, name=contact_name, now=now)
        customer.id = customer_id = ids[Customer][0]
        name = customer.name
        new_rows.append(customer)
    addressed = dict(planned.known)
    for (channel, address), identity_id in zip(missing, ids[Identity], strict=True):
        identity = lookup.new_identity(customer_id, channel, address, name=contact_name, now=now)
        identity.id = addressed[channel] = identity_id
        new_rows.append(identity)
    point = _touch_point(opening, addressed)
    ticket = _touch_point_ticket(planned, customer_id, now)
    ticket.id = ids[Ticket][0]
    message = touchpoints.new_message(agent, ticket, point, now=now, external_id=planned.key)
    message.id = ids[Message][0]
    trail, events = _logged(agent, planned, ticket, message, point, created=created, now=now)
    for entry, entry_id in zip(trail, ids[AuditEntry], strict=True):
        entry.id = entry_id
    await insert_with_events(connection, [*new_rows, ticket, message, *trail], events, now)
    db.events_committed(type_names(events))
    return Opened(ticket, message, customer_created=created, customer_name=name)


def _touch_point(opening: Opening, addressed: dict[str, int]) -> touchpoints.TouchPoint:
    """The call or visit an opening logs, checked; a call names the phone identity it came
    by or went to."""
    point = touchpoints.TouchPoint(
        opening.channel,
        opening.direction,
        opening.text,
        opening.duration_seconds,
        identity_id=addressed.get("phone") if opening.channel == "phone" else None,
    )
    touchpoints.check(point)
    return point


def _touch_point_ticket(planned: Plan, customer_id: int, now: datetime) -> Ticket:
    ticket = _new_ticket(planned, customer_id, now)
    # Written with the ticket's first row, rather than updated after it.
    touchpoints.counts_on(ticket, planned.opening.direction, now)
    return ticket


def _logged(
    agent: Agent,
    planned: Plan,
    ticket: Ticket,
    message: Message,
    point: touchpoints.TouchPoint,
    *,
    created: bool,
    now: datetime,
) -> tuple[list[AuditEntry], tuple[TicketCreated, TouchPointLogged]]:
    """The audit trail (opened, then the call or visit) and the events of a touch point's
    new ticket."""
    trail = [
        _opened_entry(agent, planned, ticket, created, now),
        touchpoints.logged_entry(agent, ticket, message, point, now=now),
    ]
    events = (
        _created(agent, ticket),
        TouchPointLogged(ticket.id, message.id, point.channel, point.direction.value, agent.id),
    )
    return trail, events


def _new_ticket(planned: Plan, customer_id: int, now: datetime) -> Ticket:
    opening = planned.opening
    return Ticket(
        subject=planned.subject,
        status=TicketStatus.NEW,
        priority=opening.priority,
        kind=opening.kind,
        channel=opening.channel,
        customer_id=customer_id,
        assignee_id=opening.assignee_id,
        team_id=opening.team_id,
        created_at=now,
        updated_at=now,
    )


def _opened_entry(
    agent: Agent, planned: Plan, ticket: Ticket, created: bool, now: datetime
) -> AuditEntry:
    opening = planned.opening
    return audit.entry(
        at=now,
        actor_type=AuthorType.AGENT,
        actor_id=agent.id,
        ticket_id=ticket.id,
        action="ticket.opened",
        channel=opening.channel,
        customer_id=ticket.customer_id,
        customer_created=created,
        team_id=opening.team_id,
        assignee_id=opening.assignee_id,
        priority=opening.priority.value,
        kind=opening.kind.value,
        customer_asked=opening.customer_asked,
    )


def _created(agent: Agent, ticket: Ticket) -> TicketCreated:
    return TicketCreated(
        ticket.id,
        ticket.customer_id,
        ticket.channel,
        opened_by_agent_id=agent.id,
        assignee_id=ticket.assignee_id,
    )


def _reply_key(idempotency_key: str | None) -> str | None:
    return f"open.{idempotency_key}" if idempotency_key else None


def _first_message_key(agent: Agent, opening: Opening) -> str | None:
    """The external id the first message is stored under: unique per channel, so a repeated
    request finds it and two racing ones cannot both commit."""
    if opening.channel in touchpoints.TOUCH_POINTS:
        return touchpoints.touch_point_key(agent, _reply_key(opening.idempotency_key))
    key = _reply_key(opening.idempotency_key)
    return f"reply:{agent.id}:{key}" if key else None


async def _check_placement(session: AsyncSession, agent: Agent, opening: Opening) -> None:
    assignee = None
    if opening.assignee_id is not None:
        assignee = await session.get(Agent, opening.assignee_id)
        if assignee is None or not assignee.active:
            raise TicketRuleError(f"there is no active agent with id {opening.assignee_id}")
    if opening.team_id is not None and await session.get(Team, opening.team_id) is None:
        raise TicketRuleError(f"there is no team with id {opening.team_id}")
    check_assignment(agent, opening.team_id, assignee)


async def _find_customer(
    session: AsyncSession, agent: Agent, contact: Contact
) -> tuple[int | None, dict[str, str], dict[str, int]]:
    """The customer's id (None: a new one), the normalised addresses the contact named, and
    the identities already stored for them (by channel)."""
    addresses = {
        channel: lookup.normalise(channel, value)
        for channel, value in (("email", contact.email), ("phone", contact.phone))
        if value
    }
    customer_id = contact.customer_id
    if customer_id is not None:
        exists = await session.scalar(select(Customer.id).where(Customer.id == customer_id))
        if exists is None or not await customer_in_sight(session, agent, customer_id):
            raise CustomerNotFound(customer_id)
    elif not addresses:
        raise TicketRuleError("name the customer: customer_id, email or phone")
    known = await lookup.owners(session, addresses)
    owners = {owner.customer_id for owner in known.values()}
    if customer_id is not None and owners - {customer_id}:
        raise TicketRuleError("that address belongs to another customer")
    if len(owners) > 1:
        raise TicketRuleError("the email address and the phone number belong to two customers")
    if customer_id is None and owners:
        customer_id = owners.pop()
        if not await customer_in_sight(session, agent, customer_id):
            raise NotPermitted("this customer's tickets are with another team; ask a supervisor")
    return customer_id, addresses, {channel: owner.identity_id for channel, owner in known.items()}


async def _create_missing(
    session: AsyncSession, planned: Plan, now: datetime
) -> tuple[int, dict[str, int], str | None]:
    """The customer's id (created if new), the identities the contact named by channel (the
    missing ones created), and the new customer's name (None for an existing customer)."""
    customer_id, name = planned.customer_id, None
    addressed = dict(planned.known)
    for channel, address in planned.addresses.items():
        if channel not in addressed:
            found = await lookup.create(
                session,
                channel,
                address,
                name=planned.opening.contact.name,
                now=now,
                customer_id=customer_id,
            )
            if found.created:
                name = lookup.customer_name_for(planned.opening.contact.name, address)
            customer_id = found.customer_id
            addressed[channel] = found.identity_id
    assert customer_id is not None
    return customer_id, addressed, name


async def _recipient(
    session: AsyncSession,
    customer_id: int,
    opening: Opening,
    addressed: dict[str, int],
    chat_open: ChatOpen,
) -> Identity:
    """The identity the first message goes to, if the channel's rules allow writing first."""
    if not opening.customer_asked:
        refusal = await unasked_refusal(
            session,
            customer_id,
            opening.channel,
            email_needs_consent=opening.email_needs_consent,
        )
        if refusal is not None:
            raise TicketRuleError(refusal)
    channel = opening.channel
    candidates = list(
        await session.scalars(
            select(Identity)
            .where(Identity.customer_id == customer_id, Identity.channel == channel)
            .order_by(Identity.id.desc())
        )
    )
    if channel in addressed:
        candidates = [i for i in candidates if i.id == addressed[channel]]
    reachable = [i for i in candidates if not i.unreachable]
    if channel == "webchat":
        reachable = [i for i in reachable if chat_open(i.address)]
        if not reachable:
            raise TicketRuleError(
                "an agent writes first on web chat only while the visitor has the chat open"
            )
    if not reachable:
        names = {"email": "an email address", "telegram": "a Telegram account"}
        raise TicketRuleError(f"the customer has no reachable {names.get(channel, channel)}")
    return reachable[0]
