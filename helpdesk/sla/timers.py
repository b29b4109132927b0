"""What happens to one timer: start, pause, resume, end, recompute; and when it fires next.

Business time used is folded into `used_seconds` whenever a timer stops running, so a timer
that is paused for a week and resumed picks up exactly where it was. Each ladder step fires at a
business-time threshold (`Policy.thresholds`); the UTC instant of the next one is `next_fire_at`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from helpdesk.sla.calendar import BusinessCalendar
from helpdesk.sla.models import SlaTimer, TimerStatus
from helpdesk.sla.policies import LADDER, Match, Metric


def start(
    ticket_id: int,
    metric: Metric,
    match: Match,
    now: datetime,
    reassure: timedelta | None = None,
) -> SlaTimer:
    timer = SlaTimer(
        ticket_id=ticket_id,
        metric=metric.value,
        policy=match.policy.name,
        calendar=match.calendar.name,
        fingerprint=match.fingerprint,
        status=TimerStatus.RUNNING,
        target_seconds=match.policy.target(metric).total_seconds(),
        used_seconds=0.0,
        started_at=now,
        resumed_at=now,
        step=0,
        updated_at=now,
    )
    schedule(timer, match, reassure)
    return timer


def used(timer: SlaTimer, calendar: BusinessCalendar, now: datetime) -> timedelta:
    """Business time used so far."""
    spent = timedelta(seconds=timer.used_seconds)
    if timer.status == TimerStatus.RUNNING and timer.resumed_at is not None:
        spent += max(calendar.between(timer.resumed_at, now), timedelta(0))
    return spent


def schedule(timer: SlaTimer, match: Match, reassure: timedelta | None = None) -> None:
    """Set `due_at` and `next_fire_at` from the business time used and the thresholds, and
    `reassure_at` for a response timer when `reassure` is on and not yet done."""
    if timer.status != TimerStatus.RUNNING or timer.resumed_at is None:
        timer.due_at = None
        timer.next_fire_at = None
        timer.reassure_at = None
        return
    calendar, base = match.calendar, timer.resumed_at
    spent = timedelta(seconds=timer.used_seconds)
    target = timedelta(seconds=timer.target_seconds)
    if target > spent:
        timer.due_at = calendar.add(base, target - spent)
    elif timer.due_at is None:
        timer.due_at = base
    responses = (Metric.FIRST_RESPONSE.value, Metric.NEXT_RESPONSE.value)
    if reassure and timer.reassured_at is None and timer.metric in responses:
        timer.reassure_at = calendar.add(base, max(reassure - spent, timedelta(0)))
    thresholds = match.policy.thresholds(Metric(timer.metric))
    if timer.step >= len(LADDER):
        timer.next_fire_at = None
    elif thresholds[timer.step] > spent:
        timer.next_fire_at = calendar.add(base, thresholds[timer.step] - spent)
    else:
        # Already past it (a policy tightened, a long pause ended): fire now.
        timer.next_fire_at = base


def pause(timer: SlaTimer, calendar: BusinessCalendar, now: datetime) -> None:
    if timer.status != TimerStatus.RUNNING:
        return
    timer.used_seconds = used(timer, calendar, now).total_seconds()
    timer.status = TimerStatus.PAUSED
    timer.resumed_at = timer.due_at = timer.next_fire_at = timer.reassure_at = None
    timer.updated_at = now


def resume(timer: SlaTimer, match: Match, now: datetime, reassure: timedelta | None = None) -> None:
    if timer.status != TimerStatus.PAUSED:
        return
    timer.status = TimerStatus.RUNNING
    timer.resumed_at = now
    timer.updated_at = now
    schedule(timer, match, reassure)


def end(timer: SlaTimer, calendar: BusinessCalendar, now: datetime, status: TimerStatus) -> None:
    """Met (the reply or resolution came) or stopped (resolved without it)."""
    if timer.status not in (TimerStatus.RUNNING, TimerStatus.PAUSED):
        return
    timer.used_seconds = used(timer, calendar, now).total_seconds()
    timer.status = status
    timer.ended_at = now
    timer.resumed_at = timer.next_fire_at = timer.reassure_at = None
    timer.updated_at = now


def recompute(
    timer: SlaTimer,
    match: Match,
    old: BusinessCalendar,
    now: datetime,
    reassure: timedelta | None = None,
) -> None:
    """The policy or calendar changed: keep the business time used (counted on the old
    calendar), take the new target and thresholds. Steps already fired are not fired again."""
    running = timer.status == TimerStatus.RUNNING
    if running:
        timer.used_seconds = used(timer, old, now).total_seconds()
        timer.resumed_at = now
    timer.policy = match.policy.name
    timer.calendar = match.calendar.name
    timer.fingerprint = match.fingerprint
    timer.target_seconds = match.policy.target(Metric(timer.metric)).total_seconds()
    timer.due_at = None
    timer.updated_at = now
    schedule(timer, match, reassure)
