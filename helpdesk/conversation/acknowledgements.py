"""Automatic acknowledgements: on channels where a customer cannot see us typing (email), a new
ticket gets one message saying it was received, its number and when to expect an answer.

One per ticket, a few per sender and hour (so a sender that writes in a loop cannot make us
mass-mail), and never to a machine (`TicketCreated.automatic`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.clock import Clock
from helpdesk.conversation.models import Acknowledgement
from helpdesk.customers.models import Identity
from helpdesk.events.types import TicketCreated
from helpdesk.tickets.actions import bot_reply
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
        policy = self._policies[event.channel]
        now = self._clock.now()
        if await session.get(Acknowledgement, event.ticket_id) is not None:
            return
        # The address the ticket's first message came from.
        address = await session.scalar(
            select(Identity.address)
            .join(Message, Message.identity_id == Identity.id)
            .where(Message.ticket_id == event.ticket_id, Message.direction == Direction.IN)
            .order_by(Message.id)
            .limit(1)
        )
        ticket = await session.get(Ticket, event.ticket_id)
        if address is None or ticket is None:
            return
        recent = await session.scalar(
            select(func.count())
            .select_from(Acknowledgement)
            .where(
                Acknowledgement.address == address,
                Acknowledgement.sent_at > now - timedelta(hours=1),
            )
        )
        if (recent or 0) >= policy.per_sender_per_hour:
            return
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
        await bot_reply(session, ticket, text.strip(), now=now, author=AuthorType.SYSTEM)
