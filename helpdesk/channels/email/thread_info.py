"""What a reply mail needs from its ticket: subject, the Message-IDs it answers, who is copied
and a little history. Replies sent at the same moment (the outbox sends a round in parallel)
are read together, with a few statements for all of them instead of several each.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from helpdesk.channels.email.models import EmailParticipant, EmailReference, ParticipantRole
from helpdesk.messages import OutboundMessage
from helpdesk.storage.database import Database
from helpdesk.tickets.models import Direction, Message, Ticket

HISTORY_MESSAGES = 3
HISTORY_CHARACTERS = 800
REFERENCES_KEPT = 10
# Rows read per ticket beyond what one reply needs, for several replies on one ticket at once.
_SLACK = 8


@dataclass(frozen=True, slots=True)
class Thread:
    subject: str
    in_reply_to: str | None
    references: list[str]
    cc: list[tuple[str, str]]
    history: list[dict[str, object]]


class ThreadLoader:
    def __init__(self, db: Database, team_name: str, copies_limit: int) -> None:
        self._db = db
        self._team_name = team_name
        self._limit = copies_limit
        self._waiting: list[tuple[OutboundMessage, asyncio.Future[Thread]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def thread(self, message: OutboundMessage) -> Thread:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Thread] = loop.create_future()
        self._waiting.append((message, future))
        if len(self._waiting) == 1:
            task = loop.create_task(self._load_waiting())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _load_waiting(self) -> None:
        await asyncio.sleep(0)  # every send of this round has asked by now
        batch, self._waiting = self._waiting, []
        try:
            threads = await self.load([message for message, _ in batch])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for message, future in batch:
            if not future.done():
                future.set_result(threads[message.message_id])

    async def load(self, messages: list[OutboundMessage]) -> dict[int, Thread]:
        tickets = sorted({m.ticket_id for m in messages})
        newest = max(m.message_id for m in messages)
        async with self._db.read() as session:
            subjects = {
                row.id: row.subject
                for row in await session.execute(
                    select(Ticket.id, Ticket.subject).where(Ticket.id.in_(tickets))
                )
            }
            references = list(await session.execute(_references(tickets, newest)))
            copied = list(
                await session.execute(
                    select(
                        EmailParticipant.ticket_id,
                        EmailParticipant.display_name,
                        EmailParticipant.address,
                    )
                    .where(
                        EmailParticipant.ticket_id.in_(tickets),
                        EmailParticipant.role == ParticipantRole.COPIED,
                    )
                    .order_by(EmailParticipant.id)
                )
            )
            earlier = list(await session.execute(_history(tickets, newest)))
        # Grouped by ticket once: each reply of a round looks at its own ticket's rows only
        # (scanning the whole round's rows for each reply grew with the square of the round).
        refs, copies, history = _by_ticket(references), _by_ticket(copied), _by_ticket(earlier)
        return {
            m.message_id: self._thread_of(
                m,
                subjects.get(m.ticket_id, ""),
                refs.get(m.ticket_id, []),
                copies.get(m.ticket_id, []),
                history.get(m.ticket_id, []),
            )
            for m in messages
        }

    def _thread_of(
        self,
        message: OutboundMessage,
        subject: str,
        references: list[Any],
        copied: list[Any],
        earlier: list[Any],
    ) -> Thread:
        """The thread of one reply from its own ticket's rows (newest first)."""
        before = message.message_id
        chain = [r.rfc_message_id for r in references if r.message_id < before][:REFERENCES_KEPT]
        chain.reverse()
        history = [
            {
                "when": row.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                "who": "you" if row.direction == Direction.IN else self._team_name,
                "lines": row.text.splitlines(),
            }
            for row in earlier
            if row.id < before
        ][:HISTORY_MESSAGES]
        return Thread(
            subject=subject,
            in_reply_to=chain[-1] if chain else None,
            references=chain,
            cc=self._copies(message, [(r.display_name, r.address) for r in copied]),
            history=history,
        )

    def _copies(
        self, message: OutboundMessage, found: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """Who besides the customer gets this mail: for an agent's reply, the ticket's copied
        participants (at most `reply_participants_max`); an acknowledgement or any other
        automatic mail goes to the sender alone."""
        if message.author_type != "agent":
            return []
        recipient = message.recipient.lower()
        return [(name, address) for name, address in found if address != recipient][: self._limit]


def _by_ticket(rows: list[Any]) -> dict[int, list[Any]]:
    """Rows (each with a `ticket_id`) grouped by ticket, in their order."""
    grouped: dict[int, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.ticket_id, []).append(row)
    return grouped


def _references(tickets: list[int], newest: int) -> Any:
    ranked = (
        select(
            EmailReference.ticket_id,
            EmailReference.rfc_message_id,
            EmailReference.message_id,
            func.row_number()
            .over(partition_by=EmailReference.ticket_id, order_by=EmailReference.id.desc())
            .label("rank"),
        )
        .where(
            EmailReference.ticket_id.in_(tickets),
            EmailReference.message_id < newest,
            EmailReference.rfc_message_id.startswith("<"),
        )
        .subquery()
    )
    return (
        select(ranked)
        .where(ranked.c.rank <= REFERENCES_KEPT + _SLACK)
        .order_by(ranked.c.ticket_id, ranked.c.rank)
    )


def _history(tickets: list[int], newest: int) -> Any:
    ranked = (
        select(
            Message.ticket_id,
            Message.id,
            Message.direction,
            func.substr(Message.text, 1, HISTORY_CHARACTERS).label("text"),
            Message.created_at,
            func.row_number()
            .over(partition_by=Message.ticket_id, order_by=Message.id.desc())
            .label("rank"),
        )
        .where(
            Message.ticket_id.in_(tickets),
            Message.id < newest,
            Message.direction.in_((Direction.IN, Direction.OUT)),
        )
        .subquery()
    )
    return (
        select(ranked)
        .where(ranked.c.rank <= HISTORY_MESSAGES + _SLACK)
        .order_by(ranked.c.ticket_id, ranked.c.rank)
    )
