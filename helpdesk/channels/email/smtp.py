"""Outbound mail through aiosmtplib, called by the outbox worker.

Each outbound message has one Message-ID, derived from its numbers: if we crash after the SMTP
server accepted it but before the outbox recorded that, the retry is the same message (same id),
which mail systems and clients treat as one.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import NotRequired, TypedDict

import aiosmtplib
from sqlalchemy import select

from helpdesk.channels.email.models import EmailParticipant, EmailReference
from helpdesk.channels.email.settings import EmailSettings, SmtpSettings
from helpdesk.channels.email.threads import MessageIds, SubjectTag
from helpdesk.customers.models import Identity
from helpdesk.messages import DeliveryError, DeliveryReceipt, OutboundMessage
from helpdesk.storage.database import Database
from helpdesk.templating import Templates
from helpdesk.tickets.models import Direction, Message, Ticket

HISTORY_MESSAGES = 3
HISTORY_CHARACTERS = 800
REFERENCES_KEPT = 10


class _Connection(TypedDict):
    """The keyword arguments of aiosmtplib.send that say where and how to connect."""

    hostname: str
    port: int
    use_tls: bool
    start_tls: bool
    timeout: float
    tls_context: ssl.SSLContext
    username: NotRequired[str]
    password: NotRequired[str]


@dataclass(frozen=True, slots=True)
class _Thread:
    subject: str
    in_reply_to: str | None
    references: list[str]
    cc: list[tuple[str, str]]
    history: list[dict[str, object]]


class SmtpAdapter:
    name = "email"

    def __init__(
        self, db: Database, settings: EmailSettings, ids: MessageIds, templates: Templates
    ) -> None:
        assert settings.smtp is not None
        self._db = db
        self._settings = settings
        self._smtp: SmtpSettings = settings.smtp
        self._ids = ids
        self._tag = SubjectTag(settings.subject_tag)
        # The plain-text part: nothing in it is HTML, so nothing is escaped.
        self._text = templates.environment(
            autoescape=False, strict=True, keep_trailing_newline=True
        )
        # The HTML part: everything escaped, like every page.
        self._html = templates.environment(autoescape=True, strict=True)

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        thread = await self._thread(message)
        mail = self.compose(message, thread)
        try:
            await aiosmtplib.send(mail, **self._connection())
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            raise DeliveryError(
                f"recipient refused: {exc}", permanent=all(c >= 500 for c in codes)
            ) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            # The operator's to fix; until then replies wait instead of failing for good.
            raise DeliveryError(
                f"SMTP login refused ({exc.code} {exc.message}): check email.smtp.user/password"
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx on the message itself is final; 4xx and anything else is worth a retry.
            raise DeliveryError(
                f"SMTP {exc.code}: {exc.message}", permanent=exc.code >= 500
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"SMTP server unavailable: {type(exc).__name__}: {exc}") from exc
        return DeliveryReceipt(delivered=False)

    def _connection(self) -> _Connection:
        return connection_options(self._smtp)

    def compose(self, message: OutboundMessage, thread: _Thread) -> EmailMessage:
        mail = EmailMessage()
        settings = self._settings
        mail["From"] = Address(settings.from_name, addr_spec=settings.from_address)
        mail["To"] = message.recipient
        if thread.cc:
            mail["Cc"] = [Address(name, addr_spec=address) for name, address in thread.cc]
        subject = (
            thread.subject if thread.subject.lower().startswith("re:") else f"Re: {thread.subject}"
        )
        mail["Subject"] = self._tag.add(subject, message.ticket_id)
        mail["Date"] = format_datetime(message.sent_at)
        mail["Message-ID"] = self._ids.make(message.ticket_id, message.message_id)
        if thread.in_reply_to:
            mail["In-Reply-To"] = thread.in_reply_to
        if thread.references:
            mail["References"] = " ".join(thread.references)
        # RFC 3834: ours are answers, but acknowledgements are automatic and must not be answered.
        if message.author_type != "agent":
            mail["Auto-Submitted"] = "auto-replied"
        context = {
            "text": message.text,
            "author_name": message.author_name,
            "team_name": settings.from_name,
            "ticket_number": message.ticket_id,
            "history": thread.history,
        }
        mail.set_content(self._text.get_template("email_reply.txt").render(**context))
        mail.add_alternative(
            self._html.get_template("email_reply.html").render(**context), subtype="html"
        )
        return mail

    async def _thread(self, message: OutboundMessage) -> _Thread:
        async with self._db.read() as session:
            ticket = await session.get(Ticket, message.ticket_id)
            subject = ticket.subject if ticket else ""
            references = (
                await session.scalars(
                    select(EmailReference.rfc_message_id)
                    .join(Message, Message.id == EmailReference.message_id)
                    .where(
                        EmailReference.ticket_id == message.ticket_id,
                        Message.id < message.message_id,
                        EmailReference.rfc_message_id.startswith("<"),
                    )
                    .order_by(EmailReference.id.desc())
                    .limit(REFERENCES_KEPT)
                )
            ).all()
            # A participant may have written last and so be the recipient: the customer stays
            # on the mail as a copy.
            customer = await session.scalar(
                select(Identity.address)
                .where(
                    Identity.customer_id == (ticket.customer_id if ticket else None),
                    Identity.channel == "email",
                )
                .order_by(Identity.id.desc())
                .limit(1)
            )
            participants = (
                await session.execute(
                    select(EmailParticipant.display_name, EmailParticipant.address)
                    .where(EmailParticipant.ticket_id == message.ticket_id)
                    .order_by(EmailParticipant.id)
                )
            ).all()
            earlier = (
                await session.execute(
                    select(Message.direction, Message.text, Message.created_at)
                    .where(
                        Message.ticket_id == message.ticket_id,
                        Message.id < message.message_id,
                        Message.direction.in_((Direction.IN, Direction.OUT)),
                    )
                    .order_by(Message.id.desc())
                    .limit(HISTORY_MESSAGES)
                )
            ).all()
        history = [
            {
                "when": row.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                "who": "you" if row.direction == Direction.IN else self._settings.from_name,
                "lines": row.text[:HISTORY_CHARACTERS].splitlines(),
            }
            for row in earlier
        ]
        chain = list(reversed(references))
        return _Thread(
            subject=subject,
            in_reply_to=chain[-1] if chain else None,
            references=chain,
            cc=[
                (name, address)
                for name, address in [*([("", customer)] if customer else []), *participants]
                if address != message.recipient.lower()
            ],
            history=history,
        )


def connection_options(smtp: SmtpSettings) -> _Connection:
    """Where and how aiosmtplib connects, from the settings (replies and staff notices)."""
    context = ssl.create_default_context()
    if not smtp.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    options: _Connection = {
        "hostname": smtp.host,
        "port": smtp.port,
        "use_tls": smtp.tls == "implicit",
        "start_tls": smtp.tls == "starttls",
        "timeout": smtp.timeout_seconds,
        "tls_context": context,
    }
    if smtp.user:
        options["username"] = smtp.user
        options["password"] = smtp.password.get_secret_value()
    return options
