"""Who the chat customer is: the name and email the widget asks for (`webchat.ask_name`,
`ask_email`: off, optional or required; `ask_when`: before the chat or when a person takes
over), and the code mailed to prove the email.

Frames (customer -> server): `identify` {name, email}, `send_code` (mail a new code), `verify`
{code}. The server answers `identify` with the chat's state (also in `ready`, and pushed when a
person takes over), `code_sent`, `verified`, or an `error`. A required detail is enforced here,
not only in the widget: a message before it is refused with `identify_first`.

The email stays an unproven claim until the code comes back (`helpdesk/customers/email_proof.py`):
it joins no history, so typing someone's address shows nothing of theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.webchat.frames import FrameError
from helpdesk.channels.webchat.settings import WebchatSettings
from helpdesk.common.clock import Clock, SystemClock
from helpdesk.common.sanitize import clean_text
from helpdesk.customers import email_proof, lookup
from helpdesk.customers.email_claims import EmailClaim
from helpdesk.customers.email_proof import CodeMailer, ProofPolicy, Proven, Refusal
from helpdesk.customers.models import Customer, Identity
from helpdesk.events.types import Event, ReplyQueued, TicketHandedOver
from helpdesk.storage.database import Database
from helpdesk.tickets.models import Ticket

log = logging.getLogger(__name__)

CHANNEL = "webchat"
MAX_NAME = 200
MAX_CODE = 20
# Visitors known to have given every required detail, per process (they never take it back).
MAX_REMEMBERED = 50_000
FIRST = "please give your {} first"
Push = Callable[[str, dict[str, Any]], Awaitable[int]]
Render = Callable[..., str]


@dataclass(frozen=True, slots=True)
class Known:
    customer_id: int | None
    name: str
    email: str | None
    verified: bool
    code_sent: bool
    due: bool


class ChatIdentity:
    def __init__(
        self, db: Database, settings: WebchatSettings, push: Push, connected: Callable[[str], bool]
    ) -> None:
        self._db = db
        self._settings = settings
        self._push = push
        self._connected = connected
        self._satisfied: set[str] = set()
        self.policy = ProofPolicy(
            code_lifetime=timedelta(minutes=settings.email_code_minutes),
            max_attempts=settings.email_code_attempts,
            sends_per_requester=settings.email_codes_per_chat,
            sends_per_address=settings.email_codes_per_address,
            send_window=timedelta(minutes=settings.email_code_window_minutes),
        )
        # Set by the runtime: codes go out through the email channel's SMTP when configured.
        self.clock: Clock = SystemClock()
        self.secret = ""
        self.mailer: CodeMailer | None = None
        self.render: Render | None = None

    def use(self, *, clock: Clock, secret: str, mailer: CodeMailer | None, render: Render) -> None:
        self.clock, self.secret, self.mailer, self.render = clock, secret, mailer, render

    @property
    def asks(self) -> bool:
        return self._settings.ask_name != "off" or self._settings.ask_email != "off"

    @property
    def asks_on_handover(self) -> bool:
        return self.asks and self._settings.ask_when == "on_handover"

    @property
    def _requires(self) -> bool:
        return "required" in (self._settings.ask_name, self._settings.ask_email)

    async def state(self, visitor: str) -> dict[str, Any] | None:
        """What the widget should ask now and what it already knows; None if it asks nothing."""
        if not self.asks:
            return None
        async with self._db.read() as session:
            return self._frame(await self._known(session, visitor))

    def _frame(self, known: Known) -> dict[str, Any]:
        settings = self._settings
        return {
            "name": settings.ask_name,
            "email": settings.ask_email,
            "when": settings.ask_when,
            "due": known.due,
            "missing": self._missing(known.name, known.email),
            "known": {
                "name": known.name,
                "email": known.email,
                "verified": known.verified,
                "code_sent": known.code_sent,
            },
        }

    def _missing(self, name: str, email: str | None) -> list[str]:
        missing = []
        if self._settings.ask_name == "required" and not name:
            missing.append("name")
        if self._settings.ask_email == "required" and not email:
            missing.append("email")
        return missing

    async def _known(self, session: AsyncSession, visitor: str) -> Known:
        before = self._settings.ask_when == "before_chat"
        row = (
            await session.execute(
                select(Identity.customer_id, Identity.display_name).where(
                    Identity.channel == CHANNEL, Identity.address == visitor
                )
            )
        ).first()
        if row is None:
            return Known(None, "", None, False, False, due=before)
        customer_id, name = row
        verified = await session.scalar(
            select(Identity.address)
            .where(
                Identity.customer_id == customer_id, Identity.channel == "email", Identity.verified
            )
            .order_by(Identity.id.desc())
            .limit(1)
        )
        claimed = (
            await session.execute(
                select(EmailClaim.address, EmailClaim.code_hash)
                .where(EmailClaim.customer_id == customer_id)
                .order_by(EmailClaim.id.desc())
                .limit(1)
            )
        ).first()
        due = before or (
            await session.scalar(
                select(Ticket.handed_over_at)
                .where(Ticket.customer_id == customer_id, Ticket.channel == CHANNEL)
                .order_by(Ticket.id.desc())
                .limit(1)
            )
            is not None
        )
        if claimed is not None:
            # A claim is the address the customer gave last: shown until proven.
            return Known(customer_id, name, claimed[0], False, claimed[1] is not None, due)
        return Known(customer_id, name, verified, verified is not None, False, due)

    async def require(self, visitor: str, client_id: str) -> None:
        """Refuse a message while a required detail is missing and it is time to ask."""
        if not self._requires or visitor in self._satisfied:
            return
        async with self._db.read() as session:
            known = await self._known(session, visitor)
        missing = self._missing(known.name, known.email)
        if not missing:
            if len(self._satisfied) >= MAX_REMEMBERED:
                self._satisfied.clear()
            self._satisfied.add(visitor)
            return
        if known.due:
            raise FrameError("identify_first", FIRST.format(" and ".join(missing)), client_id)

    async def on_identify(self, visitor: str, frame: dict[str, Any]) -> dict[str, Any]:
        if not self.asks:
            raise FrameError("bad_frame", "this chat asks for no name or email")
        name = self._text(frame.get("name"), "name")
        raw_email = self._text(frame.get("email"), "email")
        email = None
        if raw_email and self._settings.ask_email != "off":
            try:
                email = email_proof.normalise(raw_email)
            except lookup.BadAddress:
                raise FrameError("bad_email", f"{raw_email!r} is not an email address") from None
        if self._settings.ask_name == "off":
            name = ""
        for attempt in (1, 2):
            try:
                known, code = await self._identify(visitor, name, email)
                break
            except IntegrityError:
                # The chat's first message created the customer at the same moment: again.
                if attempt == 2:
                    raise FrameError("unavailable", "not stored; send it again") from None
        reply: dict[str, Any] = {"type": "identify", **self._frame(known)}
        if code is not None and email is not None:
            reply["code"] = await self._mail(email, known.name, code)
        return reply

    def _text(self, value: object, field: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise FrameError("bad_frame", f"'{field}' must be a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise FrameError("bad_text", f"the {field} is not valid Unicode") from None
        text = " ".join(clean_text(value).split())
        if len(text) > MAX_NAME and field == "name":
            raise FrameError("too_large", f"the name is longer than {MAX_NAME} characters")
        return text

    async def _identify(
        self, visitor: str, name: str, email: str | None
    ) -> tuple[Known, str | Refusal | None]:
        now = self.clock.now()
        async with self._db.transaction() as session:
            known = await self._known(session, visitor)
            missing = self._missing(name or known.name, email or known.email)
            if missing:
                raise FrameError("identify_first", FIRST.format(" and ".join(missing)))
            customer_id = known.customer_id
            if customer_id is None:
                found = await lookup.create(session, CHANNEL, visitor, name=name, now=now)
                customer_id = found.customer_id
            elif name:
                await _name(session, customer_id, visitor, name)
            code: str | Refusal | None = None
            if email is not None:
                claim = await email_proof.claim(session, customer_id, email, now=now)
                if claim is not None and self.mailer is not None:
                    code = await email_proof.issue_code(
                        session,
                        claim,
                        f"webchat:{visitor}",
                        self.policy,
                        now=now,
                        secret=self.secret,
                    )
            known = await self._known(session, visitor)
        return known, code

    async def _mail(self, address: str, name: str, code: str | Refusal) -> dict[str, str]:
        """Mail the code after its commit; what the widget should say about it."""
        if isinstance(code, Refusal):
            return {"status": code.code, "message": code.message}
        assert self.mailer is not None and self.render is not None
        minutes = self._settings.email_code_minutes
        text = self.render("email_code.txt", code=code, minutes=minutes)
        try:
            await self.mailer.send(address, name, f"Your code: {code}", text)
        except Exception as exc:
            # The customer is waiting in the widget: told at once, they ask again.
            log.warning("the code for a chat could not be mailed: %s", exc)
            return {"status": "unavailable", "message": "the code could not be sent; try again"}
        return {"status": "sent", "message": f"a code was sent to {address}"}

    async def on_send_code(self, visitor: str) -> dict[str, Any]:
        if self.mailer is None:
            raise FrameError("unavailable", "codes cannot be sent: email is not configured")
        now = self.clock.now()
        async with self._db.transaction() as session:
            claim = await self._claim(session, visitor)
            code = await email_proof.issue_code(
                session, claim, f"webchat:{visitor}", self.policy, now=now, secret=self.secret
            )
            address, name = claim.address, (await self._known(session, visitor)).name
        sent = await self._mail(address, name, code)
        if sent["status"] != "sent":
            raise FrameError(sent["status"], sent["message"])
        return {"type": "code_sent", "email": address, "message": sent["message"]}

    async def on_verify(self, visitor: str, frame: dict[str, Any]) -> dict[str, Any]:
        code = frame.get("code")
        if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE:
            raise FrameError("bad_frame", "'code' must be the code from the mail")
        now = self.clock.now()
        async with self._db.transaction() as session:
            claim = await self._claim(session, visitor)
            address = claim.address
            result = await email_proof.check_code(
                session, claim, code, self.policy, now=now, secret=self.secret
            )
        # Refused after the commit: the wrong attempt stays counted.
        if isinstance(result, Refusal):
            raise FrameError(result.code, result.message)
        return await self._verified(visitor, address, result)

    async def _verified(self, visitor: str, address: str, proven: Proven) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "type": "verified",
            "email": address,
            "merged": proven.merged_from is not None,
        }
        state = await self.state(visitor)
        if state is not None:
            reply["identify"] = state
        return reply

    async def _claim(self, session: AsyncSession, visitor: str) -> EmailClaim:
        customer_id = await session.scalar(
            select(Identity.customer_id).where(
                Identity.channel == CHANNEL, Identity.address == visitor
            )
        )
        claim = None
        if customer_id is not None:
            claim = await session.scalar(
                select(EmailClaim)
                .where(EmailClaim.customer_id == customer_id)
                .order_by(EmailClaim.id.desc())
                .limit(1)
                .with_for_update()
            )
        if claim is None:
            raise FrameError("no_email", "give an email address first")
        return claim

    async def on_event(self, event: Event) -> None:
        """Broadcast: a person took over a chat (the bot stepped aside, or an agent replied);
        tell this process's sockets of it what to ask now."""
        if not self.asks_on_handover:
            return
        if isinstance(event, ReplyQueued) and event.channel != CHANNEL:
            return
        if not isinstance(event, TicketHandedOver | ReplyQueued):
            return
        async with self._db.read() as session:
            visitors = list(
                await session.scalars(
                    select(Identity.address)
                    .join(Ticket, Ticket.customer_id == Identity.customer_id)
                    .where(
                        Ticket.id == event.ticket_id,
                        Ticket.channel == CHANNEL,
                        Identity.channel == CHANNEL,
                    )
                )
            )
        for visitor in visitors:
            if self._connected(visitor) and visitor not in self._satisfied:
                state = await self.state(visitor)
                if state is not None:
                    await self._push(visitor, {"type": "identify", **state})


async def _name(session: AsyncSession, customer_id: int, visitor: str, name: str) -> None:
    """The chat identity takes the name; the customer too while it has only the visitor id."""
    await session.execute(
        update(Identity)
        .where(Identity.channel == CHANNEL, Identity.address == visitor)
        .values(display_name=name[:MAX_NAME])
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Customer)
        .where(Customer.id == customer_id, Customer.name.in_(["", visitor]))
        .values(name=name[:MAX_NAME])
        .execution_options(synchronize_session=False)
    )
