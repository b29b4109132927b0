"""The email channel: IMAP mailboxes in (one task each), SMTP out through the outbox.

Modules: `parse` (bytes -> ParsedMail), `quoting` (the new part of a reply), `noise` (machines and
bounces), `threads` (Message-IDs, subject tags, external ids), `importer` (one transaction per
batch, with the checkpoint), `mailbox` (IMAP IDLE/poll loop), `smtp` (the adapter),
`quarantine` (re-import by an admin). Acknowledgements are the core's (`conversation`).
"""

from __future__ import annotations

from helpdesk.channels.email.importer import MailImporter
from helpdesk.channels.email.mailbox import MailboxStatus, MailboxWorker
from helpdesk.channels.email.quarantine import Quarantine
from helpdesk.channels.email.smtp import SmtpAdapter
from helpdesk.channels.email.threads import MessageIds
from helpdesk.common.clock import Clock
from helpdesk.config import EmailSettings
from helpdesk.intake.service import IntakeService
from helpdesk.storage.attachments import AttachmentStore
from helpdesk.storage.database import Database
from helpdesk.templating import Templates

__all__ = ["EmailChannel", "MailboxStatus"]


class EmailChannel:
    def __init__(
        self,
        settings: EmailSettings,
        db: Database,
        intake: IntakeService,
        clock: Clock,
        attachments: AttachmentStore,
        templates: Templates,
        *,
        secret: str,
    ) -> None:
        self.settings = settings
        self.ids = MessageIds(secret, settings.message_id_domain)
        self.importer = MailImporter(intake, attachments, settings, self.ids)
        self.workers = [
            MailboxWorker(mailbox, settings, db, clock, self.importer)
            for mailbox in settings.mailboxes
        ]
        self.adapter = SmtpAdapter(db, settings, self.ids, templates) if settings.smtp else None
        self.quarantine = Quarantine(db, clock, attachments, self.importer)

    @property
    def configured(self) -> bool:
        return bool(self.workers) or self.adapter is not None

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    async def stop(self) -> None:
        for worker in self.workers:
            await worker.stop()

    def statuses(self) -> list[MailboxStatus]:
        return [worker.status for worker in self.workers]
