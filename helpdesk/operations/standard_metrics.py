"""The metrics every helpdesk exposes (docs/deployment.md#metrics lists them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from helpdesk.channels.telegram.models import TelegramState
from helpdesk.delivery.models import OutboxItem, OutboxStatus
from helpdesk.routing.models import HeldTicket
from helpdesk.sla.models import Escalation, SlaTimer, TimerStatus
from helpdesk.tickets.models import Ticket, TicketStatus

if TYPE_CHECKING:
    from helpdesk.runtime import Runtime

WAITING = (OutboxStatus.PENDING, OutboxStatus.SENDING)


def register_standard_metrics(rt: Runtime) -> None:
    metrics = rt.metrics
    metrics.gauge_query(
        "helpdesk_tickets",
        "Tickets not closed, by status (all processes)",
        select(Ticket.status, func.count())
        .where(Ticket.status != TicketStatus.CLOSED)
        .group_by(Ticket.status),
        labels=["status"],
    )
    metrics.gauge_query(
        "helpdesk_outbox_backlog",
        "Replies waiting to be sent, by channel (all processes)",
        select(OutboxItem.channel, func.count())
        .where(OutboxItem.status.in_(WAITING))
        .group_by(OutboxItem.channel),
        labels=["channel"],
    )
    metrics.gauge_query(
        "helpdesk_outbox_oldest_seconds",
        "Age of the oldest reply waiting to be sent, by channel",
        select(OutboxItem.channel, func.min(OutboxItem.created_at))
        .where(OutboxItem.status.in_(WAITING))
        .group_by(OutboxItem.channel),
        labels=["channel"],
    )
    metrics.gauge_query(
        "helpdesk_outbox_failed",
        "Replies that could not be delivered after every attempt, by channel",
        select(OutboxItem.channel, func.count())
        .where(OutboxItem.status == OutboxStatus.FAILED)
        .group_by(OutboxItem.channel),
        labels=["channel"],
    )
    metrics.gauge_query(
        "helpdesk_telegram_last_update_age_seconds",
        "Seconds since the last Telegram update was stored, by bot",
        select(TelegramState.bot_id, TelegramState.updated_at),
        labels=["bot_id"],
    )
    metrics.gauge_query(
        "helpdesk_holding_queue",
        "Tickets waiting in routing's holding queue for an eligible agent (all processes)",
        select(func.count()).select_from(HeldTicket),
    )
    metrics.gauge_query(
        "helpdesk_sla_breached_open",
        "SLA timers past their target and still running, by metric (all processes)",
        select(SlaTimer.metric, func.count())
        .where(SlaTimer.status == TimerStatus.RUNNING, SlaTimer.breached_at.is_not(None))
        .group_by(SlaTimer.metric),
        labels=["metric"],
    )
    metrics.gauge_query(
        "helpdesk_escalations_unacknowledged",
        "Escalations no supervisor has acknowledged yet, by level (all processes)",
        select(Escalation.level, func.count())
        .where(Escalation.acknowledged_at.is_(None))
        .group_by(Escalation.level),
        labels=["level"],
    )
    metrics.gauge_callback(
        "helpdesk_chat_connections",
        "Open web chat sockets in this process",
        lambda: {(): float(rt.webchat.hub.connection_count)},
    )
    metrics.gauge_callback(
        "helpdesk_mailbox_lag_seconds",
        "Seconds since each mailbox was last seen with no mail left to import (this process)",
        lambda: _mailbox_lag(rt),
        labels=["mailbox"],
    )
    metrics.gauge_callback(
        "helpdesk_mailbox_connected",
        "1 when this process is connected to the mailbox",
        lambda: {(w.mailbox.name,): float(w.status.connected) for w in rt.email.workers},
        labels=["mailbox"],
    )


def _mailbox_lag(rt: Runtime) -> dict[tuple[str, ...], float]:
    now = rt.clock.now()
    lags: dict[tuple[str, ...], float] = {}
    for worker in rt.email.workers:
        since = worker.status.caught_up_at or rt.started_at or now
        lags[(worker.mailbox.name,)] = max(0.0, (now - since).total_seconds())
    return lags
