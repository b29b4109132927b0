"""Routing rules match the mailbox a mail came in at: with two real Dovecot mailboxes, mail to
billing@ goes to the Billing team and mail to support@ does not, on both databases."""

from __future__ import annotations

from pathlib import Path

from helpdesk.config import load_settings
from helpdesk.routing import queries
from helpdesk.runtime import Runtime
from tests.conftest import seed_staff
from tests.email_helpers import api_as, email_settings, eventually, mailbox_settings, ticket_of
from tests.routing_helpers import assignee_soon, set_agent
from tests.support.dovecot import DovecotServer, ImapClient, mail


async def test_a_rule_sends_mail_from_the_billing_mailbox_to_billing(
    database_url: str, tmp_path: Path, dovecot_server: DovecotServer
):
    people = await seed_staff(database_url)
    support, billing = dovecot_server.mailbox(), dovecot_server.mailbox()
    email = email_settings(support, None)
    email["mailboxes"].append(mailbox_settings(billing, name="billing"))
    settings = load_settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        email=email,
        routing={
            "rules": [{"name": "billing mail", "when": {"mailbox": "billing"}, "team": "Billing"}]
        },
    )
    runtime = Runtime(settings)
    await runtime.start()
    try:
        await set_agent(runtime, "alice@example.test")
        carol = await set_agent(runtime, "carol@example.test")
        # The same words to both mailboxes: only where they came in differs.
        async with ImapClient(billing) as imap:
            await imap.append(
                mail(
                    "ann@customer.test",
                    "Invoice",
                    "Wrong amount.",
                    to="billing@x",
                    message_id="<b1@customer.test>",
                )
            )
        to_billing = await eventually(lambda: ticket_of(runtime, "billing:<b1@customer.test>"))
        assert await assignee_soon(runtime, to_billing.id) == carol
        async with ImapClient(support) as imap:
            await imap.append(
                mail(
                    "bea@customer.test", "Invoice", "Wrong amount.", message_id="<s1@customer.test>"
                )
            )
        to_support = await eventually(lambda: ticket_of(runtime, "support:<s1@customer.test>"))
        assignee = await assignee_soon(runtime, to_support.id)
        assert assignee is not None and assignee != carol

        async with runtime.db.read() as session:
            [billed] = await queries.decisions(session, to_billing.id)
            [supported] = await queries.decisions(session, to_support.id)
        assert billed.reason.startswith("Matched rule 'billing mail' (mailbox=billing)")
        assert "team Billing" in billed.reason
        assert "billing mail" not in supported.reason
        async with api_as(runtime, people.supervisor) as api:
            shown = (await api.get(f"/api/tickets/{to_billing.id}")).json()
            assert shown["entry_point"] == "billing" and shown["assignee_id"] == carol
            assert (await api.get(f"/api/tickets/{to_support.id}")).json()["entry_point"] == (
                "support"
            )
    finally:
        await runtime.stop()
