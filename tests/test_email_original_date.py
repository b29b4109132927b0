"""A far-future or unreadable `Date:` does not quarantine the mail: its time is when it arrived,
and the header as sent is kept and shown on the message (`original_date`), on both databases,
read from a real Dovecot."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from helpdesk.channels.email.models import EmailQuarantine
from tests.conftest import seed_staff
from tests.email_helpers import api_as, email_runtime, email_settings, eventually, ticket_of
from tests.support.dovecot import ImapClient, Mailbox, mail

FUTURE = "Mon, 02 Mar 2099 09:00:00 +0000"
GARBAGE = "99 Foo 12345 99:99:99 +9999"
ORDINARY = "Tue, 03 Mar 2020 10:00:00 +0000"


async def test_a_far_future_date_is_kept_but_not_used(
    database_url: str, tmp_path: Path, dovecot: Mailbox
):
    people = await seed_staff(database_url)
    async with ImapClient(dovecot) as imap:
        for name, date in (("future", FUTURE), ("garbage", GARBAGE), ("ordinary", ORDINARY)):
            message = mail(
                f"{name}@customer.test",
                f"About {name}",
                "Hello.",
                message_id=f"<{name}@customer.test>",
            )
            # Written as raw bytes: the email package would not write an unreadable date.
            await imap.append(f"Date: {date}\r\n".encode() + message.as_bytes())
    async with email_runtime(database_url, tmp_path, email_settings(dovecot, None)) as runtime:
        tickets = {
            name: await eventually(
                lambda n=name: ticket_of(runtime, f"support:<{n}@customer.test>")
            )
            for name in ("future", "garbage", "ordinary")
        }
        async with runtime.db.read() as session:
            quarantined = await session.scalar(select(func.count()).select_from(EmailQuarantine))
        assert quarantined == 0
        async with api_as(runtime, people.supervisor) as api:
            shown = {
                name: (await api.get(f"/api/tickets/{t.id}")).json()["messages"][0]
                for name, t in tickets.items()
            }
            listed = (await api.get("/api/tickets")).json()["tickets"]
    assert shown["future"]["original_date"] == FUTURE
    assert shown["garbage"]["original_date"] == GARBAGE
    assert shown["ordinary"]["original_date"] is None
    assert {t["subject"] for t in listed} >= {"About future", "About garbage", "About ordinary"}
