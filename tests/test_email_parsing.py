"""The pieces of the email channel that need no server: parsing, reply stripping, loop and
bounce detection, Message-IDs and subject tags, and the intake rule for a proven hint."""

from __future__ import annotations

from helpdesk.channels.email.parse import parse
from helpdesk.channels.email.quoting import visible_reply
from helpdesk.channels.email.threads import MessageIds, SubjectTag, external_id
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime

OUTLOOK_REPLY = """Works now, thank you!

Kind regards
Jane

From: Support <support@example.test>
Sent: Monday, March 2, 2026 10:00 AM
To: Jane <jane@customer.test>
Subject: RE: Router [#12]

Please restart it.
"""


def test_reply_stripping_keeps_only_the_new_words():
    assert visible_reply(OUTLOOK_REPLY) == "Works now, thank you!"
    gmail = "Yes.\n\nOn Mon, 2 Mar 2026 at 10:00, Support <s@x.test> wrote:\n> Did it help?\n"
    assert visible_reply(gmail) == "Yes."
    assert visible_reply("Just one line") == "Just one line"


def test_message_ids_are_ours_only_when_signed():
    ids = MessageIds("secret-one", "example.test")
    made = ids.make(12, 345)
    assert made == ids.make(12, 345)
    found = ids.ours(made)
    assert found is not None and (found.ticket_id, found.message_id) == (12, 345)
    assert ids.ours(made.replace("hd.12.", "hd.13.")) is None
    assert MessageIds("secret-two", "example.test").ours(made) is None
    assert ids.ours("<hd.12.345.0000000000000000@example.test>") is None


def test_subject_tag_in_any_configured_format():
    default = SubjectTag("[#{number}]")
    assert default.add("Router broken", 1234) == "Router broken [#1234]"
    assert default.add("Re: Router broken [#1234]", 1234) == "Re: Router broken [#1234]"
    assert default.find("AW: Re: Router [#1234] again") == 1234
    assert default.find("order #1234") is None
    custom = SubjectTag("(Ticket {number})")
    assert custom.find("Re: x (Ticket 77)") == 77


def test_external_id_uses_message_id_or_content():
    assert external_id("support", "<a@b>", b"x") == "support:<a@b>"
    assert external_id("support", None, b"x").startswith("support:sha256:")
    assert len(external_id("support", "<" + "x" * 900 + ">", b"x")) < 255


def test_headers_in_any_encoding_and_the_display_name_kept():
    raw = (
        b"From: =?iso-8859-1?q?J=F6rg_M=FCller?= <JOERG@Example.ORG>\r\n"
        b"Cc: Tom <tom@example.org>, =?utf-8?b?5bGx55Sw?= <yamada@example.jp>\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
        b"In-Reply-To: <a@x>\r\nReferences: <root@x> <a@x>\r\n\r\nHallo\r\n"
    )
    mail = parse(raw)
    assert (mail.sender, mail.sender_name) == ("joerg@example.org", "Jörg Müller")
    assert mail.subject == "Grüße"
    assert mail.cc == (("Tom", "tom@example.org"), ("山田", "yamada@example.jp"))
    assert mail.references == ("<a@x>", "<root@x>")
    assert mail.message_id is None and mail.automatic is None


def test_html_only_mail_becomes_readable_text():
    raw = (
        b"From: a@example.org\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<h1>Order</h1><p>My <b>order</b> is <i>late</i>.</p><script>steal()</script>"
    )
    mail = parse(raw)
    assert "My order is late." in mail.text and "steal" not in mail.text
    assert mail.html is not None


def test_machines_are_recognised():
    def automatic(header: str) -> str | None:
        return parse(f"From: a@example.org\r\n{header}\r\n\r\nx".encode()).automatic

    assert automatic("Auto-Submitted: auto-replied")
    assert automatic("Auto-Submitted: no") is None
    assert automatic("Precedence: junk")
    assert automatic("X-Autoreply: yes")
    assert automatic("List-Id: <list.example.org>")
    assert automatic("X-Custom: 1") is None


async def test_intake_honours_a_proven_hint_only(runtime: Runtime):
    """A participant's message (a different customer) joins a ticket only when the channel proved
    the hint; the same claim unproven opens a ticket of its own."""
    first = await runtime.intake.receive(
        InboundMessage("email", "m:1", "jane@example.org", "Help", continues_latest=False)
    )
    claimed = await runtime.intake.receive(
        InboundMessage(
            "email",
            "m:2",
            "eve@evil.test",
            "Me too",
            continues_latest=False,
            ticket_hint=first.ticket_id,
        )
    )
    proven = await runtime.intake.receive(
        InboundMessage(
            "email",
            "m:3",
            "tom@example.org",
            "Me too",
            continues_latest=False,
            ticket_hint=first.ticket_id,
            hint_verified=True,
        )
    )
    assert claimed.ticket_id != first.ticket_id and claimed.new_ticket
    assert proven.ticket_id == first.ticket_id and not proven.new_ticket
