"""Outbound mail through aiosmtplib, called by the outbox worker.

Each outbound message has one Message-ID, derived from its numbers: if we crash after the SMTP
server accepted it but before the outbox recorded that, the retry is the same message (same id),
which mail systems and clients treat as one.
"""

from __future__ import annotations

from email.utils import format_datetime

import aiosmtplib

from helpdesk.channels.email.mail_bytes import Draft, Envelope, envelope
from helpdesk.channels.email.outbound_thread import outbound_subject
from helpdesk.channels.email.settings import EmailSettings, SmtpSettings
from helpdesk.channels.email.smtp_pool import SmtpPool
from helpdesk.channels.email.thread_info import Thread, ThreadLoader
from helpdesk.channels.email.threads import MessageIds, SubjectTag
from helpdesk.messages import DeliveryError, DeliveryReceipt, OutboundMessage
from helpdesk.storage.database import Database
from helpdesk.templating import Templates


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
        self._pool = SmtpPool(self._smtp)
        self._threads = ThreadLoader(db, settings.from_name, settings.reply_participants_max)

    async def close(self) -> None:
        await self._pool.close()

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        thread = await self._threads.thread(message)
        mail = self.compose(message, thread)
        try:
            await self._pool.send(mail)
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

    def compose(self, message: OutboundMessage, thread: Thread) -> Envelope:
        settings = self._settings
        headers = [
            # Writing first answers nothing: the mail opens a thread of its own.
            (
                "Subject",
                outbound_subject(
                    thread.subject,
                    message.ticket_id,
                    self._tag,
                    answers=thread.in_reply_to is not None,
                ),
            ),
            ("Date", format_datetime(message.sent_at)),
            ("Message-ID", self._ids.make(message.ticket_id, message.message_id)),
        ]
        if thread.in_reply_to:
            headers.append(("In-Reply-To", thread.in_reply_to))
        if thread.references:
            headers.append(("References", " ".join(thread.references)))
        # RFC 3834: ours are answers, but acknowledgements are automatic and must not be answered.
        if message.author_type != "agent":
            headers.append(("Auto-Submitted", "auto-replied"))
        context = {
            "text": message.text,
            # Markup the core rendered from our own autoescaped templates (the survey's links).
            "html": message.html,
            "author_name": message.author_name,
            "team_name": settings.from_name,
            "ticket_number": message.ticket_id,
            "history": thread.history,
        }
        return envelope(
            Draft(
                from_name=settings.from_name,
                from_address=settings.from_address,
                to=message.recipient,
                cc=thread.cc,
                headers=headers,
                text=self._text.get_template("email_reply.txt").render(**context),
                html=self._html.get_template("email_reply.html").render(**context),
            )
        )
