"""Automatic acknowledgements: on channels where a customer cannot see us typing (email), a new
ticket gets one message saying it was received, its number and when to expect an answer.

One per ticket, a few per sender and hour (so a sender that writes in a loop cannot make us
mass-mail), and never to a machine (`TicketCreated.automatic`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.clock import Clock
from helpdesk.conversation.models import Acknowledgement
from helpdesk.customers.models import Identity
from helpdesk.events.types import TicketCreated
from helpdesk.tickets.actions import bot_replies
from helpdesk.tickets.models import AuthorType, Direction, Message, Ticket

# (template name, context) -> text
RenderText = Callable[..., str]


@dataclass(frozen=True, slots=True)
class AcknowledgementPolicy:
    per_sender_per_hour: int
    expected_answer: str


class Acknowledgements:
    def __init__(
        self, clock: Clock, policies: Mapping[str, AcknowledgementPolicy], render: RenderText
    ) -> None:
        self._clock = clock
        self._policies = dict(policies)
        self._render = render

    def wanted(self, event: TicketCreated) -> bool:
        # A ticket an agent opened started with our own message: nothing to acknowledge.
        return (
            event.automatic is None
            and event.opened_by_agent_id is None
            and event.channel in self._policies
        )

    async def on_ticket_created(self, session: AsyncSession, event: TicketCreated) -> None:
        """The reaction to a new ticket on an acknowledging channel: tell the sender."""
        await self.on_tickets_created(session, [event])

    async def on_tickets_created(
        self, session: AsyncSession, events: Sequence[TicketCreated]
    ) -> None:
        """A round of new tickets acknowledged with a few statements for all of them."""
        now = self._clock.now()
        seen = await self._read(session, events)
        replies: list[tuple[Ticket, str]] = []
        for event in events:
            policy = self._policies[event.channel]
            # The address the ticket's first message came from.
            address = seen.addresses.get(event.ticket_id)
            ticket = seen.tickets.get(event.ticket_id)
            if address is None or ticket is None or ticket.id in seen.done:
                continue
            if seen.recent[address] >= policy.per_sender_per_hour:
                continue
            seen.recent[address] += 1
            seen.done.add(ticket.id)
            session.add(
                Acknowledgement(
                    ticket_id=ticket.id, channel=event.channel, address=address, sent_at=now
                )
            )
            text = self._render(
                f"{event.channel}_ack.txt",
                ticket_number=ticket.id,
                subject=ticket.subject,
                expected_answer=policy.expected_answer,
            )
            replies.append((ticket, text.strip()))
        if replies:
            await bot_replies(session, replies, now=now, author=AuthorType.SYSTEM)

    async def _read(self, session: AsyncSession, events: Sequence[TicketCreated]) -> _Round:
        ids = sorted({event.ticket_id for event in events})
        first = (
            select(Message.ticket_id, func.min(Message.id).label("first"))
            .where(Message.ticket_id.in_(ids), Message.direction == Direction.IN)
            .group_by(Message.ticket_id)
            .subquery()
        )
        rows = await session.execute(
            select(first.c.ticket_id, Identity.address)
            .join(Message, Message.id == first.c.first)
            .join(Identity, Identity.id == Message.identity_id)
        )
        addresses: dict[int, str] = {row[0]: row[1] for row in rows}
        tickets = {t.id: t for t in await session.scalars(select(Ticket).where(Ticket.id.in_(ids)))}
        done = set(
            await session.scalars(
                select(Acknowledgement.ticket_id).where(Acknowledgement.ticket_id.in_(ids))
            )
        )
        since = self._clock.now() - timedelta(hours=1)
        counts = await session.execute(
            select(Acknowledgement.address, func.count())
            .where(
                Acknowledgement.address.in_(set(addresses.values())),
                Acknowledgement.sent_at > since,
            )
            .group_by(Acknowledgement.address)
        )
        recent: Counter[str] = Counter({row[0]: row[1] for row in counts})
        return _Round(addresses, tickets, done, recent)


@dataclass(slots=True)
class _Round:
    """What a round's acknowledgements need, read with four statements."""

    addresses: dict[int, str]
    tickets: dict[int, Ticket]
    done: set[int]
    recent: Counter[str]
