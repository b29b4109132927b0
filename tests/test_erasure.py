"""Export and erasure: a customer with data on every channel (email through a real Dovecot,
with a copied person and an attachment; Telegram with a photo; web chat), merged into one,
with consent, notes and replies. The export holds all of it; after erasure no table, no
column and no file in the data directory holds their name, address, phone, words or file
bytes, while the anonymous rows reports count are still there (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import Connection, MetaData, func, select

from helpdesk.channels.email.models import EmailOriginalDate
from helpdesk.customers.email_claims import EmailClaim, EmailCodeSend
from helpdesk.customers.merge import merge_customers
from helpdesk.customers.models import Customer
from helpdesk.messages import InboundAttachment, InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.staff.accounts import add_agent
from helpdesk.staff.models import Role
from helpdesk.tickets.models import Attachment, AuditEntry, Message, Ticket
from tests.conftest import PASSWORD, People, seed_staff
from tests.email_helpers import api_as, email_runtime, email_settings, eventually, ticket_of
from tests.support.dovecot import ImapClient, Mailbox, mail

NAME = "Jane Erasable"
EMAIL = "jane.erasable@customer.test"
PHONE = "+49301112233"
WORD = "Zebracorn"
TELEGRAM_USER = "987654321"
PDF = b"%PDF-1.4 zebracorn-secret-invoice-bytes " * 20
PHOTO = b"\xff\xd8\xff\xe0 zebracorn-secret-photo-bytes " * 20
ADMIN = "ada@example.test"


def _scan(connection: Connection, needles: list[str], blobs: list[bytes]) -> list[str]:
    """Every table and column of the database, read whole: where a needle is found."""
    metadata = MetaData()
    metadata.reflect(connection)
    found = []
    for table in metadata.sorted_tables:
        for row in connection.execute(select(table)).mappings():
            for column, value in row.items():
                if value is None:
                    continue
                if isinstance(value, bytes | memoryview):
                    data = bytes(value)
                    hits = [b for b in blobs if b[:40] in data]
                    hits += [n for n in needles if n.lower().encode() in data.lower()]
                else:
                    text = value if isinstance(value, str) else json.dumps(value, default=str)
                    hits = [n for n in needles if n.lower() in text.lower()]
                if hits:
                    found.append(f"{table.name}.{column}: {hits}")
    return found


def _files_holding(folder: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            found += [f"{path.name}: {n!r}" for n in needles if n.lower() in data]
    return found


async def _suggested(api: httpx.AsyncClient, article_id: int) -> bool:
    found = await api.get("/api/kb/suggestions", params={"text": "I forgot my password"})
    return [s["article_id"] for s in found.json()][:1] == [article_id]


async def _count(runtime: Runtime, model: type) -> int:
    async with runtime.db.read() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def _add_admin(runtime: Runtime) -> None:
    async with runtime.db.transaction() as session:
        await add_agent(
            session,
            email=ADMIN,
            name="Ada Admin",
            password=PASSWORD,
            now=datetime.now(UTC),
            role=Role.ADMIN,
        )


async def _customer_with_everything(runtime: Runtime, dovecot: Mailbox) -> tuple[int, int]:
    """Jane, on every channel, merged into one customer; and another customer beside her."""
    message = mail(
        f"{NAME} <{EMAIL}>",
        f"{WORD} invoice",
        f"My {WORD} order is late. Call me on {PHONE}.",
        message_id=f"<{WORD.lower()}-1@customer.test>",
        headers={
            "Cc": "Carl Copied <carl.copied@other.test>",
            "Date": "Fri, 1 Jan 2100 10:00:00 +0000",
        },
    )
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice.pdf")
    async with ImapClient(dovecot) as imap:
        await imap.append(message)
    external = f"support:<{WORD.lower()}-1@customer.test>"
    ticket = await eventually(lambda: ticket_of(runtime, external))
    jane = ticket.customer_id
    telegram = await runtime.intake.receive(
        InboundMessage(
            channel="telegram",
            external_id=f"{TELEGRAM_USER}:1",
            sender=TELEGRAM_USER,
            sender_name=NAME,
            text=f"{WORD} photo attached",
            attachments=(InboundAttachment("photo.jpg", "image/jpeg", PHOTO),),
        )
    )
    chat = await runtime.intake.receive(
        InboundMessage(
            channel="webchat",
            external_id="wc-1",
            sender="visitor-jane",
            sender_name=NAME,
            text=f"Hello, {WORD} again, this is {NAME}",
        )
    )
    other = await runtime.intake.receive(
        InboundMessage(
            channel="webchat",
            external_id="wc-2",
            sender="visitor-other",
            sender_name="Otto Other",
            text="Keepme: another customer's words",
        )
    )
    async with runtime.db.transaction() as session:
        for source in (telegram.customer_id, chat.customer_id):
            await merge_customers(session, source, jane, now=datetime.now(UTC), reason="same")
        customer = await session.get(Customer, jane)
        assert customer is not None
        customer.phone = PHONE
        # What other capabilities keep: a rating's comment, an unproven address typed in the
        # chat and a code mailed to it.
        rated = await session.get(Ticket, ticket.id)
        assert rated is not None
        rated.satisfaction, rated.satisfaction_comment = 2, f"{WORD}: slow, {NAME}"
        now = datetime.now(UTC)
        session.add(
            EmailClaim(customer_id=jane, address=f"{WORD.lower()}@claimed.test", created_at=now)
        )
        session.add(
            EmailCodeSend(requester="wc-1", address=f"{WORD.lower()}@claimed.test", sent_at=now)
        )
    return jane, other.customer_id


async def test_export_then_erase_leaves_nothing_personal(
    database_url: str, tmp_path: Path, dovecot: Mailbox
):
    await seed_staff(database_url)
    data_dir = tmp_path / "data"
    async with email_runtime(database_url, data_dir, email_settings(dovecot, None)) as runtime:
        await _add_admin(runtime)
        jane, other = await _customer_with_everything(runtime, dovecot)
        async with api_as(runtime, People().supervisor) as sam:
            tickets = (await sam.get(f"/api/customers/{jane}")).json()["tickets"]
            assert sorted(t["channel"] for t in tickets) == ["email", "telegram", "webchat"]
            email_ticket = next(t["number"] for t in tickets if t["channel"] == "email")
            reply = await sam.post(
                f"/api/tickets/{email_ticket}/reply", json={"text": f"Dear {NAME}, {WORD} ok"}
            )
            assert reply.status_code in (200, 201), reply.text
            note = await sam.post(
                f"/api/tickets/{email_ticket}/notes", json={"text": f"{NAME} is upset"}
            )
            assert note.status_code in (200, 201), note.text
            consent = await sam.post(
                f"/api/customers/{jane}/consent",
                json={"channel": "email", "granted": True, "note": f"{NAME} said yes"},
            )
            assert consent.status_code == 201, consent.text

            article = await sam.post(
                "/api/kb/articles",
                json={
                    "title": "Reset your password",
                    "body": "Use the link on the login page.",
                    "phrasings": ["I forgot my password", "how do I reset my password"],
                    "status": "published",
                },
            )
            assert article.status_code == 201, article.text
            assert await eventually(lambda: _suggested(sam, article.json()["id"]))

            exported = await sam.get(f"/api/customers/{jane}/export")
            assert exported.status_code == 200
            assert exported.headers["content-type"] == "application/zip"
            archive = zipfile.ZipFile(io.BytesIO(exported.content))
            document = json.loads(archive.read("customer.json"))
            assert document["customer"]["name"] == NAME
            assert document["customer"]["phone"] == PHONE
            assert {i["channel"] for i in document["identities"]} == {
                "email",
                "telegram",
                "webchat",
            }
            texts = [m["text"] for t in document["tickets"] for m in t["messages"]]
            assert any(f"{NAME} is upset" in text for text in texts)  # the note
            assert document["consent"][0]["note"] == f"{NAME} said yes"
            files = {
                a["filename"]: archive.read(a["path"])
                for t in document["tickets"]
                for m in t["messages"]
                for a in m["attachments"]
            }
            assert files["invoice.pdf"] == PDF and files["photo.jpg"] == PHOTO
            assert {e["action"] for e in document["audit"]} >= {"customer.merged"}

            # Erasure is for admins only; export for supervisors and admins.
            assert (await sam.post(f"/api/customers/{jane}/erase")).status_code == 403
        async with api_as(runtime, People().alice) as alice:
            assert (await alice.get(f"/api/customers/{jane}/export")).status_code == 403

        async with runtime.db.read() as session:
            tickets_before = await session.scalar(select(func.count()).select_from(Ticket))
            messages_before = await session.scalar(select(func.count()).select_from(Message))

        needles = [NAME, EMAIL, PHONE, WORD, TELEGRAM_USER, "carl.copied@other.test"]
        async with runtime.db.engine.connect() as connection:
            before = await connection.run_sync(_scan, needles, [PDF, PHOTO])
        held = {line.split(".")[0] for line in before}
        assert held >= {
            "customers",
            "identities",
            "tickets",
            "messages",
            "attachment_blobs",
            "events",
            "audit_entries",
            "customer_consents",
            "email_participants",
            "email_references",
            "acknowledgements",
        }
        # Rows that hold no needle but are hers: the files' names, the mail's own Date.
        assert await _count(runtime, Attachment) == 2
        assert await _count(runtime, EmailOriginalDate) == 1

        async with api_as(runtime, ADMIN) as ada:
            erased = await ada.post(f"/api/customers/{jane}/erase")
            assert erased.status_code == 200, erased.text
            assert erased.json()["tickets"] == 3 and erased.json()["files"] == 2
            assert (await ada.post("/api/customers/999999/erase")).status_code == 404
            picture = (await ada.get(f"/api/customers/{jane}")).json()
            assert picture["name"] == f"erased customer #{jane}"
            assert picture["erased_at"] is not None and picture["email"] is None
            assert {t["subject"] for t in picture["tickets"]} == {"(erased)"}
            # The other customer is untouched, and so is the knowledge base and its index.
            assert (await ada.get(f"/api/customers/{other}")).json()["name"] == "Otto Other"
            assert await _suggested(ada, article.json()["id"])

        async with runtime.db.engine.connect() as connection:
            leftovers = await connection.run_sync(_scan, needles, [PDF, PHOTO])
            assert leftovers == []
            # ... and the scan does find what is still there.
            assert await connection.run_sync(_scan, ["Keepme"], []) != []
        async with runtime.db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Ticket)) == tickets_before
            assert (
                await session.scalar(select(func.count()).select_from(Message)) == messages_before
            )
            entry = await session.scalar(
                select(AuditEntry).where(AuditEntry.action == "customer.erased")
            )
            assert entry is not None and entry.detail["customer_id"] == jane
            assert entry.actor_id is not None
        assert await _count(runtime, Attachment) == 0
        assert await _count(runtime, EmailOriginalDate) == 0
        # Nothing in any file either, while the helpdesk runs: the data directory, and the
        # SQLite file and its write-ahead log beside it.
        files = [n.encode() for n in needles] + [PDF[:40], PHOTO[:40]]
        assert _files_holding(tmp_path, files) == []
