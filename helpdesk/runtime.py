"""The composition root: builds the database, bus, channels and workers; starts and stops them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from helpdesk.channels.email import moved_messages as email_threads
from helpdesk.channels.email.channel import EmailChannel
from helpdesk.channels.email.erasure import erase_email
from helpdesk.channels.email.staff_notices import EmailStaffNotifier
from helpdesk.channels.telegram.erasure import erase_telegram
from helpdesk.channels.telegram.staff_notices import TelegramStaffNotifier
from helpdesk.channels.webchat.service import ChatTokens, WebchatService
from helpdesk.common.clock import Clock, SystemClock
from helpdesk.config import Settings
from helpdesk.conversation.acknowledgements import AcknowledgementPolicy, Acknowledgements
from helpdesk.conversation.satisfaction import SatisfactionSurvey
from helpdesk.conversation.service import ConversationService
from helpdesk.conversation.survey_answers import SurveyAnswers
from helpdesk.conversation.survey_links import SurveyLinks
from helpdesk.customers.merge_events import CustomerMergeUndone, CustomersMerged
from helpdesk.customers.privacy import Privacy
from helpdesk.customers.tier_recompute import TierRecompute
from helpdesk.customers.tier_schedule import TierSchedule
from helpdesk.delivery.waiting import WaitingWatch
from helpdesk.delivery.worker import OutboxWorker
from helpdesk.events.dispatcher import DispatchSettings, EventDispatcher
from helpdesk.events.reactions import Broadcast, EventTable, Reaction
from helpdesk.events.types import (
    AgentDisabled,
    AgentOfflinePastGrace,
    AgentPresenceChanged,
    DeliveryChanged,
    EscalationAcknowledged,
    EscalationRaised,
    MessageReceived,
    MessageSplit,
    NoteAdded,
    ReplyQueued,
    SatisfactionRated,
    SlaTimersChanged,
    TicketAssigned,
    TicketChanged,
    TicketCreated,
    TicketHandedOver,
    TicketReleased,
    TicketReopened,
    TicketsMerged,
    TouchPointLogged,
)
from helpdesk.intake.service import IntakeService
from helpdesk.kb.events import ArticlesChanged, ArticleVoted
from helpdesk.kb.runtime import KnowledgeBaseRuntime
from helpdesk.messages import ChannelAdapter
from helpdesk.operations.logs import add_message_trace
from helpdesk.operations.metrics import Metrics
from helpdesk.operations.standard_metrics import register_standard_metrics
from helpdesk.relationships.service import RelationshipSignals
from helpdesk.routing.feed import LiveFeed
from helpdesk.routing.service import RoutingService
from helpdesk.sla.notices import StaffNotifier
from helpdesk.sla.policies import PolicyBook
from helpdesk.sla.scheduler import SlaScheduler
from helpdesk.sla.service import SlaService
from helpdesk.staff import session_cache
from helpdesk.staff.login_throttle import LoginThrottle
from helpdesk.staff.session_cache import SessionCache
from helpdesk.storage.attachments import AttachmentStore
from helpdesk.storage.database import Database
from helpdesk.storage.group_commit import GroupCommit
from helpdesk.storage.listener import PostgresListener
from helpdesk.storage.wal_checkpoints import WalCheckpointer
from helpdesk.templating import Templates
from helpdesk.tickets.models import Ticket

if TYPE_CHECKING:
    from helpdesk.channels.telegram.service import TelegramChannel

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        secret = settings.ensure_secret_key()
        self.clock: Clock = clock or SystemClock()
        self.db = Database(settings.database_url, clock=self.clock)
        # On PostgreSQL the memory of session tokens is trusted only while this process hears
        # the other processes' changes (`staff/session_cache.py`).
        self._session_notices = (
            None
            if self.db.is_sqlite
            else PostgresListener(
                self.db.url,
                session_cache.NOTIFY_CHANNEL,
                lambda _payload: session_cache.forget_all(),
                on_connect=session_cache.forget_all,
            )
        )
        memory = settings.accounts.session_memory_seconds(sqlite=self.db.is_sqlite)
        if self._session_notices is None:
            self.agent_sessions = SessionCache(memory)
        else:
            self.agent_sessions = SessionCache(
                memory, trusted=self._session_notices.listening.is_set
            )
        # Tickets agents open at the same moment share a commit (`storage/group_commit.py`).
        self.ticket_openings = GroupCommit(self.db, limit=settings.tickets.opening_batch_size)
        self.attachments = AttachmentStore(
            self.db, self.clock, legacy_root=settings.data_dir / "attachments"
        )
        # Export, erasure and retention; each channel erases its own tables.
        self.privacy = Privacy(
            self.db,
            self.clock,
            self.attachments,
            settings.customers,
            erasers=(erase_email, erase_telegram),
        )
        self.templates = Templates(settings.templates_dir)
        self.intake = IntakeService(
            self.db,
            self.clock,
            self.attachments,
            reopen_window=timedelta(hours=settings.intake.reopen_window_hours),
            batch_size=settings.intake.batch_size,
            batch_interval=settings.intake.batch_interval_ms / 1000,
        )
        self.webchat = WebchatService(
            self.db,
            self.intake.receive,
            ChatTokens(secret, settings.webchat),
            settings.webchat,
            public_url=settings.public_url,
        )
        # Who the chat customer is (issue 16): a code proving an email goes out by SMTP.
        self.webchat.identity.use(
            clock=self.clock, secret=secret, mailer=code_mailer(settings), render=self.render_text
        )
        self.conversation = ConversationService(self.clock, settings.conversation)
        # Satisfaction on every channel (issue 16): email gets signed links to a small page.
        conversation = settings.conversation
        self.survey_links = SurveyLinks(secret, settings.public_url, conversation.survey_link_days)
        self.survey_answers = SurveyAnswers(
            timedelta(minutes=conversation.rating_change_minutes),
            conversation.survey_comment_max_chars,
        )
        self.satisfaction = SatisfactionSurvey(
            self.clock,
            conversation,
            links=self.survey_links,
            render_text=self.render_text,
            render_html=self.render_html,
        )
        self.acknowledgements = Acknowledgements(
            self.clock, acknowledgement_policies(settings), self.render_text
        )
        # Knowledge base (issue 5): the suggestion index and, when enabled, the answer bot.
        self.kb = KnowledgeBaseRuntime(self.db, settings.kb)
        if settings.kb.bot_enabled:
            self.conversation.answer_bot = self.kb.bot
        self.adapters: dict[str, ChannelAdapter] = {"webchat": self.webchat.adapter}
        # --- email channel (issue 3): on when mailboxes or SMTP are configured ---
        self.email = EmailChannel(
            settings.email,
            self.db,
            self.intake,
            self.clock,
            self.attachments,
            self.templates,
            secret=secret,
        )
        if self.email.adapter is not None:
            self.adapters["email"] = self.email.adapter
        # Routing (issue 14): who gets a ticket, and each agent's live feed.
        self.routing = RoutingService(
            self.db,
            self.clock,
            settings.routing,
            bot_answers=self.conversation.bot_answers,
            key_tier=settings.customers.key_tier,
        )
        self.live_feed = LiveFeed(self._assignee_of, self._place_of)
        self.wal_checkpoints = WalCheckpointer(self.db)
        self.outbox = OutboxWorker(
            self.db, self.clock, self.adapters, settings.outbox, self.attachments
        )
        self.outbox_waiting = WaitingWatch(self.db, self.clock, self.adapters)
        # Service levels (issue 15): timers react to tickets; the scheduler fires what is due.
        self.sla = SlaService(self.clock, PolicyBook(settings.sla))
        self.sla_scheduler = SlaScheduler(
            self.db,
            self.clock,
            self.sla,
            settings.sla,
            staff_notifiers(settings, self.telegram_ready),
            public_url=settings.public_url,
        )
        # Customers' tiers (issue 16): recomputed from value on demand and on a schedule.
        self.tier_recompute = TierRecompute(self.db, settings.customers, self.clock)
        self.tier_schedule = TierSchedule(
            self.tier_recompute, settings.customers.tier_recompute_hours
        )
        # Relationship signals (issue 16): tasks on managers' lists, on a schedule and on events.
        self.relationships = RelationshipSignals(
            self.db, self.clock, settings.relationships, key_tier=settings.customers.key_tier
        )
        table = event_table(self)
        if settings.operations.trace_messages:
            table = add_message_trace(table)
        self.events = EventDispatcher(self.db, self.clock, table, dispatch_settings(settings))
        # Operations (issue 18): /metrics; a capability adds its gauge with one line here.
        self.metrics = Metrics(self.db)
        self.intake.observer = self.metrics.observe_intake
        register_standard_metrics(self)
        self.login_throttle = LoginThrottle(settings.accounts)
        self.secret_key = secret
        self.telegram: TelegramChannel | None = None
        self._telegram_loading: asyncio.Task[TelegramChannel] | None = None
        self.started = False
        self.started_at: datetime | None = None

    async def _start_telegram(self) -> TelegramChannel:
        """aiogram takes seconds to import (its pydantic models), so it is imported only with a
        bot token, and in a thread while the server already serves; until then replies to
        Telegram wait in the outbox and the webhook answers 503."""
        module = await asyncio.to_thread(
            importlib.import_module, "helpdesk.channels.telegram.service"
        )
        channel: TelegramChannel = module.TelegramChannel(
            self.settings.telegram,
            public_url=self.settings.public_url,
            secret_key=self.secret_key,
            db=self.db,
            intake=self.intake,
            clock=self.clock,
            attachments=self.attachments,
            templates=self.templates,
        )
        self.adapters[channel.adapter.name] = channel.adapter
        self.telegram = channel
        await channel.start()
        return channel

    async def _assignee_of(self, ticket_id: int) -> int | None:
        async with self.db.read() as session:
            return await session.scalar(select(Ticket.assignee_id).where(Ticket.id == ticket_id))

    async def _place_of(self, ticket_id: int) -> tuple[int | None, int | None] | None:
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(Ticket.assignee_id, Ticket.team_id).where(Ticket.id == ticket_id)
                )
            ).first()
        return None if row is None else (row[0], row[1])

    def render_text(self, name: str, **context: object) -> str:
        """A plain-text customer message from the templates (nothing in it is escaped)."""
        environment = self.templates.environment(
            autoescape=False, strict=True, keep_trailing_newline=True
        )
        return environment.get_template(name).render(**context)

    def render_html(self, name: str, **context: object) -> str:
        """Markup for a customer message, every value escaped."""
        environment = self.templates.environment(autoescape=True, strict=True)
        return environment.get_template(name).render(**context)

    async def telegram_ready(self) -> TelegramChannel | None:
        """The Telegram channel once loaded (None when no token is configured)."""
        if self._telegram_loading is None:
            return None
        return await asyncio.shield(self._telegram_loading)

    async def start(self, *, migrate: bool = True) -> None:
        if migrate:
            await self.db.migrate()
        if self._session_notices is not None:
            await self._session_notices.start()
        await self.webchat.fanout.start()
        await self.kb.start()
        self.wal_checkpoints.start()
        # Reactions first: a message stored before them would be behind a new one's checkpoint.
        await self.events.start()
        if self.settings.sla.enabled:
            await self.sla_scheduler.start()
        self.intake.start()
        self.routing.start()
        self.relationships.start()
        self.outbox.start()
        self.outbox_waiting.start()
        if self.settings.telegram.token:
            self._telegram_loading = asyncio.create_task(self._start_telegram(), name="telegram")
            self._telegram_loading.add_done_callback(_log_failure)
        self.email.start()
        self.tier_schedule.start()
        self.privacy.start()
        self.started = True
        self.started_at = self.clock.now()
        log.info("helpdesk started: database %s", self.db.engine.url.render_as_string())

    async def stop(self, drain_seconds: float = 5.0) -> None:
        # Stop taking work first, let reactions that are running finish, then close storage.
        self.started = False
        if self._telegram_loading is not None and not self._telegram_loading.done():
            self._telegram_loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._telegram_loading
        if self.telegram is not None:
            await self.telegram.stop()
        await self.email.stop()
        await self.tier_schedule.stop()
        await self.privacy.stop()
        await self.outbox_waiting.stop()
        await self.outbox.stop()
        # Batches intake has taken commit (within `drain_seconds`); nothing new is taken.
        await self.intake.stop(drain_seconds)
        await self.routing.stop()
        await self.relationships.stop()
        await self.sla_scheduler.stop()
        # A reaction cut short rolls back and is handled again after the restart.
        await self.events.stop()
        await self.webchat.fanout.stop()
        if self._session_notices is not None:
            await self._session_notices.stop()
        await self.kb.stop()
        await self.wal_checkpoints.stop()
        await self.db.dispose()
        self.started = False


def _log_failure(task: asyncio.Task[TelegramChannel]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the Telegram channel could not start", exc_info=task.exception())


def tune_garbage_collector() -> None:
    """Call once after start-up. Full collections over every long-lived object stalled all chats
    for 160-310 ms under load (bench/webchat.py); objects from start-up are frozen out of
    collection, and young collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 1_000)


def event_table(rt: Runtime) -> EventTable:
    """Which handler reacts to which event: the one place to read it. A `Reaction` acts once,
    in whichever process claims it, in the transaction that moves its checkpoint; a `Broadcast`
    runs in every process for what that process keeps in memory."""
    conversation = Reaction(
        "conversation", rt.conversation.on_message, wanted=rt.conversation.needs_reaction
    )
    acknowledgement = Reaction(
        "acknowledgement",
        rt.acknowledgements.on_ticket_created,
        wanted=rt.acknowledgements.wanted,
        handle_many=rt.acknowledgements.on_tickets_created,
    )
    survey_reaction = Reaction(
        "satisfaction-survey", rt.satisfaction.on_ticket_changed, wanted=rt.satisfaction.wanted
    )
    routing = Reaction(
        "routing", rt.routing.on_event, wanted=rt.routing.wanted, handle_many=rt.routing.on_events
    )
    # Every process wakes its holding-queue drain when room appears, and tells the agents
    # connected to it (their live feed).
    drain = Broadcast("routing-drain", rt.routing.on_capacity_event)
    feed = Broadcast("live-feed", rt.live_feed.on_event)
    # One reaction, one checkpoint, for every event that moves a timer (so they stay in order).
    sla_reaction = Reaction(
        "sla", rt.sla.handle, wanted=rt.sla.wanted, handle_many=rt.sla.handle_many
    )
    sla = [sla_reaction] if rt.settings.sla.enabled else []
    survey = [survey_reaction] if rt.settings.conversation.satisfaction_survey else []
    # A complaint, a low rating or a reopening: that customer's signals are looked at again.
    signals = (
        [
            Reaction(
                "relationship-signals", rt.relationships.on_event, wanted=rt.relationships.wanted
            )
        ]
        if rt.settings.relationships.signals
        else []
    )
    # A person took over a chat: its widget asks for a name and email, when set to ask then.
    identify = (
        [Broadcast("webchat-identify", rt.webchat.identity.on_event)]
        if rt.webchat.identity.asks_on_handover
        else []
    )
    return {
        MessageReceived: [conversation, *sla, feed],
        TicketCreated: [acknowledgement, routing, *sla, feed],
        TicketChanged: [*survey, *sla, *signals, drain, feed],
        ReplyQueued: [Broadcast("outbox-wake", rt.outbox.on_reply_queued), *sla, *identify, feed],
        ArticlesChanged: [Broadcast("kb-index", rt.kb.on_articles_changed)],
        ArticleVoted: [Broadcast("kb-votes", rt.kb.on_vote)],
        # Every process's scheduler looks again at when to wake; open queues re-sort by due time.
        SlaTimersChanged: [Broadcast("sla-wake", rt.sla_scheduler.on_timers_changed), feed],
        TicketReopened: [routing, *sla, *signals, feed],
        TicketHandedOver: [routing, *identify],
        # Sessions end in the disabling transaction itself; routing takes the tickets back.
        AgentDisabled: [routing],
        AgentOfflinePastGrace: [routing],
        AgentPresenceChanged: [drain, feed],
        TicketAssigned: [feed],
        TicketReleased: [feed],
        # The supervisors and agents named in an escalation see it in their live feed.
        EscalationRaised: [feed],
        EscalationAcknowledged: [],
        # None yet: SLA could count a call as a response; the live feed could show these.
        TouchPointLogged: [],
        TicketsMerged: [feed],
        # A split-out mail's Message-IDs follow it to its new ticket.
        MessageSplit: [Reaction("email-threads", email_threads.on_message_split)],
        # A low rating may be a relationship signal; open workspace pages read the ticket again.
        SatisfactionRated: [*signals, feed],
        # The workspace's open queue and ticket pages read the ticket again (issue 17).
        NoteAdded: [feed],
        DeliveryChanged: [feed],
        # None yet: the workspace's live feed could show a customer merged or split.
        CustomersMerged: [],
        CustomerMergeUndone: [],
    }


def staff_notifiers(
    settings: Settings, telegram: Callable[[], Awaitable[TelegramChannel | None]]
) -> list[StaffNotifier]:
    """How escalation notices reach staff: by email when SMTP is configured, and on Telegram
    (for those who linked it) when the bot is."""
    notifiers: list[StaffNotifier] = []
    if settings.email.smtp is not None:
        notifiers.append(EmailStaffNotifier(settings.email))
    if settings.telegram.token:
        notifiers.append(TelegramStaffNotifier(telegram))
    return notifiers


def code_mailer(settings: Settings) -> EmailStaffNotifier | None:
    """How a code proving a chat customer's email is mailed: by SMTP when configured."""
    return EmailStaffNotifier(settings.email) if settings.email.smtp is not None else None


def dispatch_settings(settings: Settings) -> DispatchSettings:
    events = settings.events
    return DispatchSettings(
        batch_size=events.batch_size,
        poll_seconds=events.poll_seconds,
        round_interval_seconds=events.round_interval_seconds,
        attempts=events.retry_attempts,
        retention=timedelta(hours=events.retention_hours),
    )


def acknowledgement_policies(settings: Settings) -> dict[str, AcknowledgementPolicy]:
    email = settings.email
    if not email.auto_ack:
        return {}
    return {
        "email": AcknowledgementPolicy(
            per_sender_per_hour=email.auto_ack_per_sender_per_hour,
            expected_answer=email.expected_answer,
        )
    }
