"""The email channel wired together: one worker per mailbox, the SMTP adapter, the quarantine."""

from __future__ import annotations

from helpdesk.channels.email.importer import MailImporter
from helpdesk.channels.email.mailbox import MailboxWorker
from helpdesk.channels.email.quarantine import Quarantine
from helpdesk.channels.email.settings import EmailSettings
from helpdesk.channels.email.smtp import SmtpAdapter
from helpdesk.channels.email.threads import MessageIds
from helpdesk.common.clock import Clock
from helpdesk.intake.service import IntakeService
from helpdesk.storage.attachments import AttachmentStore
from helpdesk.storage.database import Database
from helpdesk.templating import Templates


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
        ids = MessageIds(secret, settings.message_id_domain)
        # Public for an operator's re-import and for tests that hand it mail directly.
        self.importer = importer = MailImporter(intake, attachments, settings, ids)
        self.workers = [
            MailboxWorker(mailbox, settings, db, clock, importer) for mailbox in settings.mailboxes
        ]
        self.adapter = SmtpAdapter(db, settings, ids, templates) if settings.smtp else None
        self.quarantine = Quarantine(db, clock, attachments, importer)

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    async def stop(self) -> None:
        for worker in self.workers:
            await worker.stop()
        if self.adapter is not None:
            await self.adapter.close()
