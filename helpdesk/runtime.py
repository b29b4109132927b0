"""The composition root: builds the database, bus, channels and workers; starts and stops them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from datetime import timedelta

from helpdesk.attachments import AttachmentStore
from helpdesk.bus import EventBus
from helpdesk.channels.base import ChannelAdapter
from helpdesk.channels.email import EmailChannel
from helpdesk.channels.webchat import ChatTokens, WebchatService
from helpdesk.clock import Clock, SystemClock
from helpdesk.config import Settings
from helpdesk.conversation import ConversationService
from helpdesk.db import Database
from helpdesk.intake import IntakeService
from helpdesk.outbox import OutboxWorker
from helpdesk.security import Signer

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 5.0


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        secret = settings.ensure_secret_key()
        self.clock: Clock = clock or SystemClock()
        self.db = Database(settings.database_url)
        self.bus = EventBus()
        self.attachments = AttachmentStore(settings.data_dir / "attachments")
        self.intake = IntakeService(
            self.db,
            self.bus,
            self.clock,
            self.attachments,
            reopen_window=timedelta(hours=settings.intake.reopen_window_hours),
            batch_size=settings.intake.batch_size,
        )
        self.webchat = WebchatService(
            self.db,
            self.bus,
            self.intake.receive,
            ChatTokens(secret, settings.webchat),
            settings.webchat,
        )
        self.conversation = ConversationService(self.db, self.bus, self.clock)
        self.adapters: dict[str, ChannelAdapter] = {"webchat": self.webchat.adapter}
        # --- email channel (issue 3): on when mailboxes or SMTP are configured ---
        self.email = EmailChannel(
            settings.email,
            self.db,
            self.bus,
            self.clock,
            self.attachments,
            secret=secret,
            reopen_window=timedelta(hours=settings.intake.reopen_window_hours),
        )
        if self.email.adapter is not None:
            self.adapters["email"] = self.email.adapter
        self.outbox = OutboxWorker(self.db, self.bus, self.clock, self.adapters, settings.outbox)
        self.agent_sessions = Signer(secret, "agent-session", settings.session_max_age_hours * 3600)
        self.secret_key = secret
        self.started = False

    async def start(self, *, migrate: bool = True) -> None:
        if migrate:
            await self.db.migrate()
        await self.webchat.fanout.start()
        self.intake.start()
        self.outbox.start()
        self.email.start()
        self.started = True
        log.info("helpdesk started: database %s", self.db.engine.url.render_as_string())

    async def stop(self) -> None:
        # Stop taking work first, let reactions that are running finish, then close storage.
        await self.email.stop()
        await self.outbox.stop()
        await self.intake.stop()
        await self.webchat.fanout.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.bus.drain(), SHUTDOWN_GRACE_SECONDS)
        await self.bus.close()
        await self.db.dispose()
        self.started = False


def tune_garbage_collector() -> None:
    """Call once after start-up. Full collections over every long-lived object stalled all chats
    for 160-310 ms under load (bench/webchat.py); objects from start-up are frozen out of
    collection, and young collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 1_000)
