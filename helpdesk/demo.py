"""Demo data: two teams, a supervisor, three agents, a few customers with tickets, and a small
knowledge base so the answer bot replies in the demo chat."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from helpdesk.kb import articles as kb_articles
from helpdesk.kb.articles import ArticleFields
from helpdesk.kb.models import ArticleStatus
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.staff.accounts import DEMO_PASSWORD, add_agent
from helpdesk.staff.models import Agent, Role
from helpdesk.tickets import actions as tickets
from helpdesk.tickets.models import Priority, Ticket, TicketKind, TicketStatus

__all__ = ["DEMO_PASSWORD", "DEMO_PEOPLE", "seed_demo"]
DEMO_PEOPLE = (
    ("supervisor@demo.test", "Sam Supervisor", Role.SUPERVISOR, ("Support", "Billing")),
    ("alice@demo.test", "Alice Agent", Role.AGENT, ("Support",)),
    ("bob@demo.test", "Bob Agent", Role.AGENT, ("Support",)),
    ("carol@demo.test", "Carol Agent", Role.AGENT, ("Billing",)),
)
DEMO_MESSAGES = (
    ("demo-visitor-1", "Maria Rossi", "Hello, my card payment was declined twice today. Why?"),
    ("demo-visitor-2", "Kenji Sato", "How do I change the email address on my account?"),
    ("demo-visitor-3", "Lena Fischer", "I was charged twice for the same order. I want a refund."),
    ("demo-visitor-4", "Omar Haddad", "Is there a fee for international transfers?"),
)


DEMO_ARTICLES = (
    (
        "Reset your password",
        "Open **Sign in**, choose *Forgot password* and follow the link we email you. The link "
        "works for one hour.",
        ("I forgot my password", "how do I reset my password", "can't log in", "change password"),
    ),
    (
        "Why was my card payment declined?",
        "Payments are declined when the card is frozen, the limit is reached or the shop is "
        "blocked for security. Check **Cards → Limits** in the app, then try again.",
        ("my card payment was declined", "card declined", "why did my payment fail"),
    ),
    (
        "Fees for international transfers",
        "Transfers in euro within the SEPA area are free; other currencies cost 0.5% "
        "(at least 2 EUR). The fee is shown before you confirm.",
        ("is there a fee for international transfers", "how much does a transfer abroad cost"),
    ),
    (
        "Change the email address on your account",
        "Go to **Profile → Contact details**, enter the new address and confirm the code we send "
        "to it.",
        ("how do I change my email address", "update my email", "new email address"),
    ),
)


async def seed_demo(runtime: Runtime) -> bool:
    """Add the demo data unless the database already has agents. Returns whether it seeded."""
    now = runtime.clock.now()
    # Through intake, as every message comes in, with the seeding in the same transaction.
    async with runtime.intake.unit(now=now - timedelta(minutes=30)) as unit:
        session = unit.session
        if await session.scalar(select(func.count()).select_from(Agent)):
            return False
        people = {}
        for email, name, role, teams in DEMO_PEOPLE:
            people[email] = await add_agent(
                session,
                email=email,
                name=name,
                password=DEMO_PASSWORD,
                allow_published_password=True,
                now=now,
                role=role,
                teams=teams,
            )
        inbound = [
            InboundMessage(
                channel="webchat",
                external_id=f"{visitor}:seed",
                sender=visitor,
                sender_name=name,
                text=text,
            )
            for visitor, name, text in DEMO_MESSAGES
        ]
        receipts = await unit.receive(inbound)
        alice, carol = people["alice@demo.test"], people["carol@demo.test"]
        support, billing = alice.teams[0], carol.teams[0]
        first = await session.get(Ticket, receipts[0].ticket_id)
        third = await session.get(Ticket, receipts[2].ticket_id)
        assert first is not None and third is not None
        await tickets.change(
            session,
            alice,
            first,
            tickets.TicketChanges(assignee_id=alice.id, team_id=support.id),
            now=now,
        )
        await tickets.reply(
            session,
            alice,
            first,
            "Hello Maria, I am looking into it now. Could you tell me the last four digits of the "
            "card?",
            now=now,
        )
        await tickets.change(
            session,
            carol,
            third,
            tickets.TicketChanges(
                team_id=billing.id,
                kind=TicketKind.COMPLAINT,
                priority=Priority.HIGH,
                status=TicketStatus.OPEN,
            ),
            now=now,
        )
        await tickets.add_note(
            session, carol, third, "Duplicate charge confirmed in the ledger.", now=now
        )
        for title, body, phrasings in DEMO_ARTICLES:
            fields = ArticleFields(
                title=title,
                body=body,
                phrasings=list(phrasings),
                status=ArticleStatus.PUBLISHED,
            )
            await kb_articles.create(session, fields, now=now)
    return True
