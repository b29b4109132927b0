"""Everything the ticket page shows, read in one read transaction: the ticket and its messages
(`tickets.queries.ticket_view`, the API's read), the SLA timers, why it was assigned, what the
bot did, the complaint's resolution, the customer panel, suggested articles and canned replies.

The customer panel is built by `customer_panel` alone, so that it can switch to the customer
picture (`GET /api/customers/{id}`, issue 16) by changing this one function."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.sanitize import block_remote_images
from helpdesk.customers.email_proof import claims_of
from helpdesk.customers.loyalty import Classification
from helpdesk.customers.loyalty_query import loyalty_of
from helpdesk.customers.models import Customer, Identity
from helpdesk.customers.picture import Picture, TicketLine, picture
from helpdesk.customers.queries import customer_language
from helpdesk.kb.index import Suggestion
from helpdesk.kb.models import BotDecision
from helpdesk.routing.models import RoutingDecision
from helpdesk.routing.queries import decisions
from helpdesk.runtime import Runtime
from helpdesk.sla.models import SlaTimer
from helpdesk.sla.queries import timers
from helpdesk.staff.models import Agent
from helpdesk.templating import shipped_names
from helpdesk.tickets.models import ComplaintResolution, Ticket
from helpdesk.tickets.queries import MessageRow, latest_customer_message, ticket_view
from helpdesk.tickets.reply_channels import reply_addresses
from helpdesk.tickets.visibility import TicketNotFound

EARLIER_TICKETS = 10


@dataclass(frozen=True, slots=True)
class CustomerPanel:
    """The customer's whole picture (`customers.picture`, the same as
    `GET /api/customers/{id}`), with their loyalty and the addresses they claimed unproven."""

    customer: Customer
    picture: Picture
    # Other tickets than this one, newest first: only those the agent may see.
    earlier: list[TicketLine]
    loyalty: Classification | None
    unverified: list[str]


@dataclass(frozen=True, slots=True)
class Canned:
    name: str
    text: str


@dataclass(slots=True)
class TicketPage:
    ticket: Ticket
    messages: list[MessageRow]
    panel: CustomerPanel
    assignee_name: str | None
    timers: Sequence[SlaTimer]
    routing: list[RoutingDecision]
    bot: list[BotDecision]
    resolutions: list[ComplaintResolution]
    suggestions: list[Suggestion]
    canned: list[Canned]
    root_causes: Sequence[str]
    html: dict[int, str] = field(default_factory=dict)
    # The customer's proven addresses a reply may go to, the ticket's own channel first.
    reply_addresses: list[Identity] = field(default_factory=list)


async def ticket_page(runtime: Runtime, agent: Agent, number: int) -> TicketPage:
    """Raises TicketNotFound when the agent may not see the ticket (the page answers 404)."""
    async with runtime.db.read() as session:
        view = await ticket_view(session, agent, number)
        ticket = view.ticket
        panel = await customer_panel(runtime, session, agent, view.customer, ticket.id)
        assignee = await session.get(Agent, ticket.assignee_id) if ticket.assignee_id else None
        bot = await session.scalars(
            select(BotDecision).where(BotDecision.ticket_id == ticket.id).order_by(BotDecision.id)
        )
        resolutions = await session.scalars(
            select(ComplaintResolution)
            .where(ComplaintResolution.ticket_id == ticket.id)
            .order_by(ComplaintResolution.id)
        )
        suggestions = await _suggestions(runtime, session, ticket)
        data = TicketPage(
            ticket=ticket,
            messages=view.messages,
            panel=panel,
            assignee_name=assignee.name if assignee else None,
            timers=await timers(session, ticket.id),
            routing=await decisions(session, ticket.id),
            bot=list(bot),
            resolutions=list(resolutions),
            suggestions=suggestions,
            canned=canned_replies(runtime, agent, ticket, view.customer),
            root_causes=runtime.settings.conversation.complaint_root_causes,
            reply_addresses=await reply_addresses(session, ticket, runtime.adapters),
        )
    for row in view.messages:
        if row.message.html:
            # Already sanitised at intake; remote images stay blocked (they track the reader).
            data.html[row.message.id] = block_remote_images(row.message.html)[0]
    return data


async def customer_panel(
    runtime: Runtime, session: AsyncSession, agent: Agent, customer: Customer, ticket_id: int
) -> CustomerPanel:
    settings = runtime.settings
    found = await picture(session, agent, customer.id, key_tier=settings.customers.key_tier)
    if found is None:  # the agent sees this ticket, so the customer; a race with a merge
        raise TicketNotFound(ticket_id)
    loyalty = await loyalty_of(
        session,
        [customer.id],
        now=runtime.clock.now(),
        window_days=settings.relationships.loyalty_window_days,
    )
    claims = await claims_of(session, [customer.id])
    return CustomerPanel(
        customer=customer,
        picture=found,
        earlier=[t for t in found.tickets if t.id != ticket_id][:EARLIER_TICKETS],
        loyalty=loyalty.get(customer.id),
        unverified=claims.get(customer.id, []),
    )


async def _suggestions(runtime: Runtime, session: AsyncSession, ticket: Ticket) -> list[Suggestion]:
    latest = await latest_customer_message(session, ticket.id)
    if latest is None or not latest.text.strip():
        return []
    language = await customer_language(session, ticket.customer_id)
    return await runtime.kb.service.suggest(session, latest.text[:4000], language=language)


def canned_replies(
    runtime: Runtime, agent: Agent, ticket: Ticket, customer: Customer
) -> list[Canned]:
    """Every `templates/canned/*.txt`, rendered with the customer's name and the ticket's
    fields. Plain text: the page escapes it where it shows it."""
    environment = runtime.templates.environment(autoescape=False)
    context: dict[str, Any] = {
        "customer_name": customer.name,
        "ticket_number": ticket.id,
        "subject": ticket.subject,
        "channel": ticket.channel,
        "agent_name": agent.name,
    }
    names = set(shipped_names())
    if runtime.settings.templates_dir is not None:
        own = runtime.settings.templates_dir / "canned"
        names |= {f"canned/{p.name}" for p in own.glob("*.txt")} if own.is_dir() else set()
    found: list[Canned] = []
    for name in sorted(names):
        if name.startswith("canned/") and name.endswith(".txt"):
            text = environment.get_template(name).render(**context).strip()
            title = name.removeprefix("canned/").removesuffix(".txt").replace("_", " ")
            found.append(Canned(title, text))
    return found
