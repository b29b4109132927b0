"""Staff who link their Telegram account get escalation notices there, beside email; a customer
link code never links staff, nor a staff code a customer."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from helpdesk.channels.telegram.models import TelegramStaffLink
from helpdesk.common.clock import FixedClock
from helpdesk.config import load_settings
from helpdesk.customers.models import Identity
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.web.app import create_app
from tests.conftest import PASSWORD, People, seed_staff
from tests.support import telegram_api as tg
from tests.support.smtp import SmtpServer

ALWAYS = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


async def test_a_linked_supervisor_gets_the_warning_on_telegram_and_by_email(
    database_url: str, tmp_path: Path, clock: FixedClock, fake_telegram: tg.FakeTelegram
):
    await seed_staff(database_url)
    smtp = await SmtpServer().start()
    settings = load_settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        email={"smtp": smtp.settings()},
        telegram={
            "token": tg.TOKEN,
            "api_base_url": fake_telegram.base_url,
            "poll_timeout_seconds": 1,
        },
        sla={
            "calendars": {"default": {"timezone": "UTC", "hours": ALWAYS}},
            "policies": [
                {
                    "name": "standard",
                    "first_response_hours": 1,
                    "next_response_hours": 8,
                    "resolution_hours": 40,
                }
            ],
        },
    )
    rt = Runtime(settings, clock=clock)
    await rt.start()
    await rt.telegram_ready()
    transport = httpx.ASGITransport(app=create_app(rt))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://helpdesk.test") as http:
            login = await http.post(
                "/api/auth/login", json={"email": People.supervisor, "password": PASSWORD}
            )
            auth = {"Authorization": f"Bearer {login.json()['token']}"}
            assert (await http.get("/api/me/telegram-link", headers=auth)).json()["linked"] is False
            issued = await http.post("/api/me/telegram-link", headers=auth)
            assert issued.status_code == 201
            code = issued.json()["code"]
            assert issued.json()["url"].endswith(f"?start={code}")

            fake_telegram.push(tg.message_update(tg.user(777, "Sam"), f"/start {code}"))
            [answer] = await fake_telegram.wait_for_async("sendMessage", 1)
            assert answer.params["text"].startswith("This Telegram account now receives")
            linked = (await http.get("/api/me/telegram-link", headers=auth)).json()
            assert linked["linked"] is True and linked["display_name"].startswith("Sam")

            received = await rt.intake.receive(
                InboundMessage(channel="webchat", external_id="n:1", sender="n", text="Hello?")
            )
            await rt.events.idle()
            clock.advance(timedelta(minutes=49))  # 80% of the hour: the warning
            await rt.sla_scheduler.fire_due()
            await rt.sla_scheduler.send_notices()
            [mail] = await smtp.wait_for(1)
            assert mail.recipients == [People.supervisor]
            notices = await fake_telegram.wait_for_async("sendMessage", 2)
            notice = notices[-1]
            assert int(notice.params["chat_id"]) == 777
            assert f"[SLA warning] ticket #{received.ticket_id}" in notice.params["text"]

            # Unlinked: the next notice goes by email only.
            assert (await http.delete("/api/me/telegram-link", headers=auth)).status_code == 204
            clock.advance(timedelta(minutes=15))  # the breach
            await rt.sla_scheduler.fire_due()
            await rt.sla_scheduler.send_notices()
            await smtp.wait_for(2)
            assert len(fake_telegram.calls_of("sendMessage")) == 2

        async with rt.db.read() as session:
            staff_links = await session.scalar(select(func.count()).select_from(TelegramStaffLink))
            telegram_customers = await session.scalar(
                select(func.count()).select_from(Identity).where(Identity.channel == "telegram")
            )
        # Linking made no customer out of the supervisor: /start with a code is not a message.
        assert staff_links == 0 and telegram_customers == 0
    finally:
        await rt.stop()
        await smtp.stop()
