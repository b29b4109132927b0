"""Hostile and odd mail through a real mailbox: every message is imported or quarantined with a
reason, none stops the mailbox, and no stored HTML keeps anything a browser would run."""

from __future__ import annotations

import email.policy
import hashlib
import json
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from helpdesk.channels.email.models import EmailQuarantine
from helpdesk.channels.email.parse import ParseError, parse
from helpdesk.channels.email.threads import external_id
from helpdesk.tickets.models import Attachment, Message
from tests.email_helpers import (
    SUPPORT,
    email_runtime,
    email_settings,
    eventually,
    ticket_of,
)
from tests.support.dovecot import ImapClient, Mailbox, mail

CORPUS = Path(__file__).parent / "data" / "email_corpus"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text())
LIMIT = 1024 * 1024
RUNNABLE = ("<script", "javascript:", "onerror", "onload", "<iframe", "data:text/html", "<object")


def huge_message() -> bytes:
    message = EmailMessage()
    message["From"] = "big@corpus.test"
    message["To"] = SUPPORT
    message["Subject"] = "huge attachment"
    message["Message-ID"] = "<huge@corpus.test>"
    message.set_content("see the attachment")
    message.add_attachment(b"\x00" * (2 * LIMIT), maintype="application", subtype="octet-stream")
    return message.as_bytes(policy=email.policy.SMTP)


def test_the_corpus_is_big_and_described():
    files = sorted(p.stem for p in CORPUS.glob("*.eml"))
    assert len(files) >= 40
    assert files == sorted(EXPECTED)


async def test_every_corpus_message_is_imported_or_quarantined(
    database_url: str, tmp_path: Path, dovecot: Mailbox
):
    raws = {name: (CORPUS / f"{name}.eml").read_bytes() for name in sorted(EXPECTED)}
    raws["huge"] = huge_message()
    sentinel = mail("last@corpus.test", "after the corpus", "still here", message_id="<last@c>")
    async with ImapClient(dovecot) as imap:
        for raw in raws.values():
            await imap.append(raw)
        await imap.append(sentinel)
    settings = email_settings(dovecot, None, max_message_bytes=LIMIT)
    async with email_runtime(database_url, tmp_path, settings) as runtime:
        await eventually(lambda: ticket_of(runtime, "support:<last@c>"), timeout=60)
        async with runtime.db.read() as session:
            stored = {m.external_id: m for m in (await session.scalars(select(Message))).all()}
            quarantined = {
                q.sha256: q for q in (await session.scalars(select(EmailQuarantine))).all()
            }
            attachments = (await session.scalars(select(Attachment))).all()
        for name, raw in raws.items():
            expected = "quarantine" if name == "huge" else EXPECTED[name]
            digest = hashlib.sha256(raw).hexdigest()
            if expected == "quarantine":
                assert digest in quarantined, name
                assert quarantined[digest].reason, name
                continue
            try:
                message_id = parse(raw).message_id
            except ParseError as exc:  # pragma: no cover - the assertion explains
                raise AssertionError(f"{name} should parse: {exc}") from exc
            assert external_id("support", message_id, raw) in stored, name
        assert "too large" in quarantined[hashlib.sha256(raws["huge"]).hexdigest()].reason
        for message in stored.values():
            lowered = (message.html or "").lower()
            assert not any(marker in lowered for marker in RUNNABLE), message.external_id
        # Attachments, inline images and forwarded messages were kept.
        kinds = {a.content_type for a in attachments}
        assert {"application/pdf", "image/png", "message/rfc822", "text/calendar"} <= kinds
        assert any(a.filename == "Résumé €.txt" for a in attachments)
        state = runtime.email.workers[0].status
        assert state.connected and state.last_error is None
