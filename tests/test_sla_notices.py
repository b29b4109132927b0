"""Escalation notices by email wait for business hours unless the policy says otherwise."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from helpdesk.common.clock import FixedClock
from helpdesk.config import load_settings
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.sla.models import Escalation
from tests.conftest import People, seed_staff
from tests.support.smtp import SmtpServer

WEEKDAYS = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def policy(name: str, **fields: object) -> dict[str, object]:
    return {
        "name": name,
        "first_response_hours": 2,
        "next_response_hours": 8,
        "resolution_hours": 40,
        **fields,
    }


async def level(rt: Runtime, name: str) -> Escalation | None:
    async with rt.db.read() as session:
        return await session.scalar(select(Escalation).where(Escalation.level == name))


async def test_a_breach_after_hours_is_mailed_the_next_morning(
    database_url: str, tmp_path: Path, clock: FixedClock
):
    await seed_staff(database_url)
    smtp = await SmtpServer().start()
    settings = load_settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        email={"smtp": smtp.settings()},
        sla={
            "calendars": {"default": {"timezone": "UTC", "hours": WEEKDAYS}},
            "policies": [policy("standard")],
        },
    )
    rt = Runtime(settings, clock=clock)
    await rt.start()
    try:
        clock.advance(timedelta(hours=6))  # Monday 15:00
        received = await rt.intake.receive(
            InboundMessage(channel="webchat", external_id="n:1", sender="n", text="Hello?")
        )
        await rt.events.idle()

        clock.advance(timedelta(minutes=96))  # 16:36: 80% of two business hours
        await rt.sla_scheduler.fire_due()
        await rt.sla_scheduler.send_notices()
        [warning] = await smtp.wait_for(1)
        assert warning.recipients == [People.supervisor]  # nobody is assigned
        assert f"[SLA warning] ticket #{received.ticket_id}" in warning.message["Subject"]

        clock.advance(timedelta(hours=3, minutes=24))  # 20:00: the breach (17:00) fires late
        await rt.sla_scheduler.fire_due()
        await rt.sla_scheduler.send_notices()
        async with asyncio.timeout(10):  # the scheduler's own loop may be firing it
            while (breach := await level(rt, "breach")) is None:
                await asyncio.sleep(0.02)
        await rt.sla_scheduler.send_notices()
        assert breach.notified_at is None
        assert breach.notify_after == clock.now().replace(hour=9) + timedelta(days=1)
        assert len(smtp.received) == 1  # held overnight

        clock.advance(timedelta(hours=13))  # Tuesday 09:00
        await rt.sla_scheduler.send_notices()
        second = (await smtp.wait_for(2))[1]
        assert "[SLA breached]" in second.message["Subject"]
        assert "is breached" in second.message.get_content()
    finally:
        await rt.stop()
        await smtp.stop()
