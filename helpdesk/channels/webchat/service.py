"""Web chat: the customer's side of a websocket conversation, and the adapter that pushes replies.

Frames are JSON objects with a `type`. The customer first sends `hello` with its token, then
`message` (with its own `client_id`,
acknowledged only after the commit, so the widget knows what to resend), `choose` (a tapped quick
reply, acknowledged the same way), `typing`, `received` (ids it has shown) and `ping`. The server
sends `ready` (with history), `ack`, `message` (with `quick_replies` when it offers buttons),
`typing`, `delivery` and `error`. The web layer only moves text frames in and out. Who the
customer is (`identify`, `send_code`, `verify`) is `identify.py`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk import payloads
from helpdesk.channels.webchat import revocation
from helpdesk.channels.webchat.fanout import ChatFanout, LocalFanout, PostgresFanout
from helpdesk.channels.webchat.frames import FrameError
from helpdesk.channels.webchat.identify import ChatIdentity
from helpdesk.channels.webchat.limits import ChatLimits
from helpdesk.channels.webchat.origins import AllowedOrigins
from helpdesk.channels.webchat.settings import WebchatSettings
from helpdesk.common.sanitize import clean_text
from helpdesk.common.security import Signer, TokenError
from helpdesk.customers.models import Identity
from helpdesk.delivery import state as delivery_state
from helpdesk.intake.service import IntakeError, Receipt
from helpdesk.messages import DeliveryReceipt, InboundMessage, OutboundMessage, QuickReply
from helpdesk.staff.models import Agent
from helpdesk.storage.database import Database
from helpdesk.tickets.models import Direction, Message, Ticket

log = logging.getLogger(__name__)

CHANNEL = "webchat"
CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# Close codes in the private range 4000-4999 that the widget understands.
CLOSE_BAD_TOKEN = 4401
# The client spoke out of turn; its token may be fine, so it must not throw it away.
CLOSE_BAD_HELLO = 4400
CLOSE_FLOODING = 1008
# How many refused frames in a row, beyond the rate, before the socket is closed.
FLOOD_STRIKES = 20
# Message ids are 64-bit signed in the database; a larger number names no message.
MAX_MESSAGE_ID = 2**63 - 1
HELLO_TIMEOUT_SECONDS = 10.0
SEND_TIMEOUT_SECONDS = 10.0
HELLO_EXPECTED = "the first frame must be a hello with a token"


class Socket(Protocol):
    async def send_text(self, data: str) -> None: ...
    async def close(self, code: int, reason: str) -> None: ...


class TokenBucket:
    """`capacity` messages at once, refilled evenly over `window` seconds."""

    def __init__(self, capacity: int, window: float, clock: Callable[[], float] = time.monotonic):
        self._capacity = capacity
        self._rate = capacity / window
        self._tokens = float(capacity)
        self._clock = clock
        self._last = clock()

    def take(self) -> float:
        """0 if allowed, else the seconds to wait before the next message is."""
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self._rate


class ChatTokens:
    """A token names one visitor; whoever holds it may read and write that visitor's chat only."""

    def __init__(self, secret_key: str, settings: WebchatSettings) -> None:
        self._signer = Signer(secret_key, "webchat", settings.token_max_age_days * 86400)

    def issue(self, visitor: str | None = None) -> tuple[str, str]:
        visitor = visitor or secrets.token_urlsafe(16)
        return visitor, self._signer.sign({"v": visitor})

    def visitor(self, token: str) -> str:
        visitor = self._signer.load(token).get("v")
        if not isinstance(visitor, str) or not visitor:
            raise TokenError("token invalid")
        return visitor


class ChatHub:
    """The open sockets of each visitor in this process (one visitor may have several tabs)."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[_Connection]] = defaultdict(set)

    def add(self, visitor: str, connection: _Connection) -> None:
        self._sockets[visitor].add(connection)

    def remove(self, visitor: str, connection: _Connection) -> None:
        sockets = self._sockets.get(visitor)
        if sockets is not None:
            sockets.discard(connection)
            if not sockets:
                del self._sockets[visitor]

    def connected(self, visitor: str) -> bool:
        return bool(self._sockets.get(visitor))

    @property
    def connection_count(self) -> int:
        return sum(len(s) for s in self._sockets.values())

    async def close_all(self, code: int, reason: str) -> int:
        """Close every socket (on shutdown: the widget reconnects on 1012); returns how many."""
        connections = [c for sockets in self._sockets.values() for c in sockets]
        await asyncio.gather(*(c.close(code, reason) for c in connections))
        return len(connections)

    async def push(self, visitor: str, frame: dict[str, Any]) -> int:
        """Send a frame to every socket of the visitor; returns how many got it. The revoked
        frame closes them instead."""
        if frame.get("type") == revocation.REVOKED_FRAME:
            for connection in list(self._sockets.get(visitor, ())):
                await connection.send(
                    {"type": "error", "code": "bad_token", "message": "token revoked"}
                )
                await connection.close(CLOSE_BAD_TOKEN, "token revoked")
            return 0
        sent = 0
        for connection in list(self._sockets.get(visitor, ())):
            if await connection.send(frame):
                sent += 1
        return sent


# A person and a complaint are one tap away whether or not a message offered them.
ALWAYS_OFFERED = {payloads.HUMAN: "Talk to a person", payloads.COMPLAINT: "I want to complain"}
# How far back a tapped quick reply may have been offered.
OFFERED_LOOKBACK = 20


def reply_frame(
    message_id: int,
    author: str,
    name: str,
    text: str,
    at: datetime,
    quick_replies: Sequence[QuickReply] = (),
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "message",
        "id": message_id,
        "author": author,
        "name": name,
        "text": text,
        "at": at.isoformat(),
    }
    if quick_replies:
        # Only present when there are buttons: older widgets ignore the field.
        frame["quick_replies"] = [{"payload": q.payload, "label": q.label} for q in quick_replies]
    return frame


def _stored_quick_replies(message: Message) -> tuple[QuickReply, ...]:
    return tuple(QuickReply(q["payload"], q["label"]) for q in message.quick_replies or ())


class WebchatAdapter:
    """Delivers agent replies to the visitor's open sockets. A visitor who is away finds the reply
    in the history on return, so no socket is no failure: the message stays `sent` until the
    widget confirms it showed it (`received`), which makes it `delivered`."""

    name = CHANNEL

    def __init__(self, fanout: ChatFanout) -> None:
        self._fanout = fanout

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        frame = reply_frame(
            message.message_id,
            message.author_type,
            message.author_name,
            message.text,
            message.sent_at,
            message.quick_replies,
        )
        await self._fanout.publish(message.recipient, frame)
        return DeliveryReceipt(delivered=False)


class _Connection:
    """One socket; sends are serialised because replies and acks come from different tasks."""

    def __init__(self, socket: Socket) -> None:
        self.socket = socket
        self._lock = asyncio.Lock()
        self.closed = False

    async def send(self, frame: dict[str, Any]) -> bool:
        if self.closed:
            return False
        try:
            # A client that stops reading while it keeps sending must not hold the sender
            # (and, through backpressure, its own rate limit) for ever.
            async with self._lock, asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await self.socket.send_text(json.dumps(frame, ensure_ascii=False))
            return True
        except Exception:
            self.closed = True
            return False

    async def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                await self.socket.close(code, reason)


Receive = Callable[[InboundMessage], Awaitable[Receipt]]


class WebchatService:
    """Everything a chat socket does between the web layer and the core."""

    def __init__(
        self,
        db: Database,
        receive: Receive,
        tokens: ChatTokens,
        settings: WebchatSettings,
        *,
        public_url: str = "",
    ) -> None:
        self.hub = ChatHub()
        self.fanout: ChatFanout = (
            LocalFanout(self.hub)
            if db.is_sqlite
            else PostgresFanout(self.hub, db, self._reply_frame_of)
        )
        self.adapter = WebchatAdapter(self.fanout)
        self.tokens = tokens
        self.limits = ChatLimits(settings)
        self.origins = AllowedOrigins(public_url, settings.allowed_origins)
        # Who the customer is: the name and email asked for, and the email's proof.
        self.identity = ChatIdentity(db, settings, self.hub.push, self.hub.connected)
        self._db = db
        self._receive = receive
        self._settings = settings

    async def serve(self, socket: Socket, frames: AsyncIterator[str]) -> None:
        """Run one chat connection until the customer leaves. The first frame must be
        `{"type": "hello", "token": ...}`; tokens never travel in URLs, so never in logs."""
        connection = _Connection(socket)
        frames = aiter(frames)
        try:
            first = await asyncio.wait_for(anext(frames), HELLO_TIMEOUT_SECONDS)
            hello = self._parse(first)
            if hello["type"] != "hello" or not isinstance(hello.get("token"), str):
                raise FrameError("hello_expected", HELLO_EXPECTED)
            visitor = await self.visitor_of(hello["token"])
        except TokenError as exc:
            await connection.send({"type": "error", "code": "bad_token", "message": exc.reason})
            await connection.close(CLOSE_BAD_TOKEN, exc.reason)
            return
        except (FrameError, TimeoutError, StopAsyncIteration):
            await connection.send(
                {"type": "error", "code": "hello_expected", "message": HELLO_EXPECTED}
            )
            await connection.close(CLOSE_BAD_HELLO, HELLO_EXPECTED)
            return
        self.hub.add(visitor, connection)
        try:
            ready = {"type": "ready", **await self.history(visitor)}
            if (identify := await self.identity.state(visitor)) is not None:
                ready["identify"] = identify
            await connection.send(ready)
            await self._read_frames(visitor, connection, frames)
        finally:
            self.hub.remove(visitor, connection)

    async def _read_frames(
        self, visitor: str, connection: _Connection, frames: AsyncIterator[str]
    ) -> None:
        bucket = TokenBucket(self._settings.rate_messages, self._settings.rate_window_seconds)
        # Every frame costs the server something, whatever it holds: pings, receipts, junk and
        # binary frames count too, and a client past the limit is closed, not answered.
        # (Never fewer than the messages allowed: a frame budget below it would make no sense.)
        every_frame = TokenBucket(
            max(self._settings.rate_frames, self._settings.rate_messages),
            self._settings.rate_window_seconds,
        )
        strikes = 0
        async for raw in frames:
            if connection.closed:
                return  # it stopped reading what we send
            if every_frame.take():
                await connection.send(
                    {"type": "error", "code": "flooding", "message": "too many frames; closing"}
                )
                await connection.close(CLOSE_FLOODING, "too many frames")
                return
            try:
                frame = self._parse(raw)
                kind = frame["type"]
                # `verify` and `send_code` have their own bounds (attempts, codes per window).
                if kind in ("message", "choose", "typing", "identify"):
                    wait = bucket.take()
                    if wait:
                        strikes += 1
                        if strikes >= FLOOD_STRIKES:
                            await connection.close(CLOSE_FLOODING, "too many messages")
                            return
                        raise FrameError(
                            "rate_limited",
                            f"too many messages; wait {wait:.1f} s",
                            frame.get("client_id")
                            if isinstance(frame.get("client_id"), str)
                            else None,
                        )
                    strikes = 0
                if kind == "message":
                    await connection.send(await self._on_message(visitor, frame))
                elif kind == "choose":
                    await connection.send(await self._on_choose(visitor, frame))
                elif kind == "identify":
                    await connection.send(await self.identity.on_identify(visitor, frame))
                elif kind == "send_code":
                    await connection.send(await self.identity.on_send_code(visitor))
                elif kind == "verify":
                    await connection.send(await self.identity.on_verify(visitor, frame))
                elif kind == "typing":
                    pass  # Agents' live view arrives with the workspace; nothing to store.
                elif kind == "received":
                    await self._on_received(visitor, frame)
                elif kind == "ping":
                    await connection.send({"type": "pong"})
                else:
                    raise FrameError("unknown_type", f"unknown frame type {kind!r}")
            except FrameError as error:
                reply = {"type": "error", "code": error.code, "message": error.message}
                if error.client_id:
                    reply["client_id"] = error.client_id
                await connection.send(reply)

    async def visitor_of(self, token: str) -> str:
        """The visitor a token speaks for, unless the token is bad or the visitor revoked."""
        visitor = self.tokens.visitor(token)
        async with self._db.read() as session:
            if await revocation.is_revoked(session, visitor):
                raise TokenError("token revoked")
        return visitor

    async def close_revoked(self, visitors: list[str]) -> None:
        """After the revocation's commit: close the visitors' sockets in every process."""
        for visitor in visitors:
            await self.fanout.publish(visitor, {"type": revocation.REVOKED_FRAME})

    def _parse(self, raw: str) -> dict[str, Any]:
        try:
            frame = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise FrameError("bad_json", "frames must be JSON objects") from None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise FrameError("bad_frame", "a frame is a JSON object with a string 'type'")
        return frame

    async def _on_message(self, visitor: str, frame: dict[str, Any]) -> dict[str, Any]:
        client_id = frame.get("client_id")
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            raise FrameError("bad_frame", "'client_id' must be 1-64 letters, digits or _.:-")
        text = frame.get("text")
        text = clean_text(text) if isinstance(text, str) else None
        if not text or not text.strip():
            raise FrameError("bad_frame", "'text' must be a non-empty string", client_id)
        if not _is_unicode(text) or not _is_unicode(frame.get("name")):
            raise FrameError(
                "bad_text", "the text is not valid Unicode (a lone surrogate)", client_id
            )
        size = len(text.encode("utf-8"))
        if size > self._settings.max_text_bytes:
            raise FrameError(
                "too_large",
                f"message is {size} bytes; the limit is {self._settings.max_text_bytes}",
                client_id,
            )
        await self.identity.require(visitor, client_id)
        return await self._store(visitor, frame, client_id, text)

    async def _on_choose(self, visitor: str, frame: dict[str, Any]) -> dict[str, Any]:
        """A tapped quick reply: stored as a message whose text is the button's label, so the
        agent reads what the customer saw, and whose payload says what it means."""
        client_id = frame.get("client_id")
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            raise FrameError("bad_frame", "'client_id' must be 1-64 letters, digits or _.:-")
        payload = frame.get("payload")
        parsed = payloads.parse(payload) if isinstance(payload, str) else None
        if (
            not isinstance(payload, str)
            or len(payload) > payloads.MAX_LENGTH
            or parsed is None
            or parsed.kind == payloads.PayloadKind.UNKNOWN
        ):
            raise FrameError("bad_frame", "'payload' must be one of the offered choices", client_id)
        label = await self._offered_label(visitor, payload) or ALWAYS_OFFERED.get(payload)
        if label is None:
            raise FrameError("not_offered", "that choice was not offered in this chat", client_id)
        await self.identity.require(visitor, client_id)
        return await self._store(visitor, frame, client_id, label, payload=payload)

    async def _offered_label(self, visitor: str, payload: str) -> str | None:
        """The label of the button with this payload among the visitor's recent messages;
        a visitor can only tap what it was shown, not vote on any article it likes."""
        async with self._db.read() as session:
            customer_id = await _customer_of(session, visitor)
            if customer_id is None:
                return None
            offered = await session.scalars(
                select(Message.quick_replies)
                .join(Ticket, Ticket.id == Message.ticket_id)
                .where(
                    Ticket.customer_id == customer_id,
                    Ticket.channel == CHANNEL,
                    Message.direction == Direction.OUT,
                    Message.quick_replies.is_not(None),
                )
                .order_by(Message.id.desc())
                .limit(OFFERED_LOOKBACK)
            )
            for buttons in offered:
                for button in buttons or ():
                    if button.get("payload") == payload:
                        return str(button.get("label") or payload)
        return None

    async def _store(
        self,
        visitor: str,
        frame: dict[str, Any],
        client_id: str,
        text: str,
        *,
        payload: str | None = None,
    ) -> dict[str, Any]:
        name = frame.get("name")
        if not isinstance(name, str):
            name = ""
        inbound = InboundMessage(
            channel=CHANNEL,
            external_id=f"{visitor}:{client_id}",
            sender=visitor,
            sender_name=name[:200],
            text=text,
            payload=payload,
        )
        try:
            receipt = await self._receive(inbound)
        except IntakeError:
            raise FrameError(
                "unavailable", "the message was not stored; send it again", client_id
            ) from None
        return {
            "type": "ack",
            "client_id": client_id,
            "message_id": receipt.message_id,
            "ticket": receipt.ticket_id,
            "duplicate": receipt.duplicate,
        }

    async def _on_received(self, visitor: str, frame: dict[str, Any]) -> None:
        ids = frame.get("ids")
        if (
            not isinstance(ids, list)
            or len(ids) > 500
            or not all(isinstance(i, int) and 0 < i <= MAX_MESSAGE_ID for i in ids)
        ):
            raise FrameError(
                "bad_frame", "'ids' must be a list of at most 500 message ids (1 to 2^63-1)"
            )
        if not ids:
            return
        async with self._db.transaction() as session:
            customer_id = await _customer_of(session, visitor)
            if customer_id is not None:
                await delivery_state.confirm_received(session, customer_id, ids)

    async def history(self, visitor: str) -> dict[str, Any]:
        """The visitor's conversation: its messages and the replies, never internal notes."""
        async with self._db.read() as session:
            customer_id = await _customer_of(session, visitor)
            if customer_id is None:
                return {"history": [], "ticket": None}
            rows = (
                await session.execute(
                    select(Message, Agent.name)
                    .join(Ticket, Ticket.id == Message.ticket_id)
                    .outerjoin(Agent, Agent.id == Message.agent_id)
                    .where(
                        Ticket.customer_id == customer_id,
                        Ticket.channel == CHANNEL,
                        Message.direction.in_([Direction.IN, Direction.OUT]),
                    )
                    .order_by(Message.id.desc())
                    .limit(self._settings.history_limit)
                )
            ).all()
            ticket = await session.scalar(
                select(Ticket.id)
                .where(Ticket.customer_id == customer_id, Ticket.channel == CHANNEL)
                .order_by(Ticket.id.desc())
                .limit(1)
            )
        prefix = f"{visitor}:"
        history = []
        for message, agent_name in reversed(rows):
            entry: dict[str, Any] = {
                "id": message.id,
                "author": message.author_type.value,
                "name": agent_name or "",
                "text": message.text,
                "at": message.created_at.isoformat(),
            }
            if message.quick_replies:
                entry["quick_replies"] = [
                    {"payload": q.payload, "label": q.label} for q in _stored_quick_replies(message)
                ]
            if message.external_id and message.external_id.startswith(prefix):
                entry["client_id"] = message.external_id[len(prefix) :]
            history.append(entry)
        return {"history": history, "ticket": ticket}

    async def show_typing(self, ticket_id: int, agent_name: str) -> None:
        """Tell the ticket's chat that a person is writing; nothing is stored."""
        async with self._db.read() as session:
            visitors = (
                await session.scalars(
                    select(Identity.address)
                    .join(Ticket, Ticket.customer_id == Identity.customer_id)
                    .where(Ticket.id == ticket_id, Identity.channel == CHANNEL)
                )
            ).all()
        for visitor in visitors:
            await self.fanout.publish(visitor, {"type": "typing", "name": agent_name})

    async def _reply_frame_of(self, message_id: int) -> dict[str, Any] | None:
        async with self._db.read() as session:
            row = (
                await session.execute(
                    select(Message, Agent.name)
                    .outerjoin(Agent, Agent.id == Message.agent_id)
                    .where(Message.id == message_id, Message.direction == Direction.OUT)
                )
            ).first()
        if row is None:
            return None
        message, agent_name = row
        return reply_frame(
            message.id,
            message.author_type.value,
            agent_name or "",
            message.text,
            message.created_at,
            _stored_quick_replies(message),
        )


def _is_unicode(value: object) -> bool:
    """False for a string JSON escapes made unencodable (a lone surrogate such as \\ud800):
    the database and every later encoder would fail on it."""
    if not isinstance(value, str):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def _customer_of(session: AsyncSession, visitor: str) -> int | None:
    return await session.scalar(
        select(Identity.customer_id).where(Identity.channel == CHANNEL, Identity.address == visitor)
    )
