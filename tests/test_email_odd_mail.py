"""Odd mail read without a server: internationalised and 8-bit addresses, NULs, a bad byte in
UTF-8, Swedish Outlook history, qmail bounces, auto-reply subjects, far-future dates, and the
HTML an agent is shown (no bidi overrides, no remote images until asked)."""

from __future__ import annotations

from datetime import UTC, datetime

from helpdesk.channels.email.limits import plausible_date
from helpdesk.channels.email.parse import parse
from helpdesk.channels.email.quoting import visible_reply
from helpdesk.common.sanitize import block_remote_images, clean_html


def test_internationalised_and_8bit_addresses_are_read_as_what_they_are():
    utf8 = "From: Jürgen <jürgen@bücher.example>\r\nSubject: x\r\n\r\nHallo\r\n".encode()
    mail = parse(utf8)
    assert (mail.sender, mail.sender_name) == ("jürgen@bücher.example", "Jürgen")
    latin1 = "From: müller@example.de\r\nCc: Zoë <zoë@example.de>\r\n\r\nx\r\n".encode("latin-1")
    mail = parse(latin1)
    assert mail.sender == "müller@example.de"
    assert mail.cc == (("Zoë", "zoë@example.de"),)
    # Stored as they are: every value encodes as UTF-8 (no surrogates left).
    for value in (mail.sender, *mail.cc[0]):
        value.encode("utf-8")


def test_nul_in_a_file_name_and_header_never_reaches_the_database():
    raw = (
        b"From: a@example.org\r\nMessage-ID: <a\x00b@x>\r\nSubject: s\x00t\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b"--B\r\nContent-Type: text/plain\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''a%00b.txt\r\n\r\nfile\r\n--B--\r\n"
    )
    mail = parse(raw)
    assert [a.filename for a in mail.attachments] == ["ab.txt"]
    assert "\x00" not in (mail.message_id or "") + mail.subject


def test_an_invalid_byte_in_utf8_spoils_only_itself():
    body = "Grüße aus Malmö, 5 € bitte. ".encode() + b"\xff" + " Tschüß".encode()
    raw = b"From: a@example.org\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
    text = parse(raw).text
    assert "Grüße aus Malmö, 5 € bitte." in text and "Tschüß" in text and "Ã" not in text
    # Text that is not UTF-8 at all, though it says so, is still read as Windows-1252.
    latin = (
        b"From: a@example.org\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9 cr\xe8me"
    )
    assert parse(latin).text == "café crème"


def test_swedish_outlook_history_is_stripped():
    reply = (
        "Tack, det fungerar nu.\n\n"
        "Från: Support <support@example.test>\nSkickat: den 3 mars 2026 10:00\n"
        "Till: Anna <anna@example.se>\nÄmne: SV: Routern [#12]\n\nStarta om routern.\n"
    )
    assert visible_reply(reply) == "Tack, det fungerar nu."


def test_auto_reply_subjects_without_headers_are_machines():
    for subject in ("Automatic reply: Router", "Autosvar: Routern", "Out of Office: x"):
        raw = f"From: a@example.org\r\nSubject: {subject}\r\n\r\nAway.".encode()
        assert parse(raw).automatic, subject
    assert (
        parse(b"From: a@example.org\r\nSubject: Automatic updates fail\r\n\r\nx").automatic is None
    )


def test_a_qmail_bounce_names_our_message():
    raw = (
        b"From: MAILER-DAEMON@mx.customer.test\r\nTo: support@example.test\r\n"
        b"Subject: failure notice\r\n\r\n"
        b"Hi. This is the qmail-send program at mx.customer.test.\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        b"This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        b"<gone@customer.test>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        b"--- Below this line is a copy of the message.\n\n"
        b"Return-Path: <support@example.test>\nMessage-ID: <hd.1.2.abc@example.test>\n"
        b"Subject: Re: x\n\nPlease restart it.\n"
    )
    bounce = parse(raw).bounce
    assert bounce is not None
    assert bounce.original_message_id == "<hd.1.2.abc@example.test>"
    assert "gone@customer.test" in bounce.status and "no mailbox" in bounce.status


def test_a_far_future_date_gives_way_to_the_received_time():
    raw = b"From: a@example.org\r\nDate: Fri, 31 Dec 9999 23:59:59 -1200\r\n\r\nx"
    assert parse(raw).sent_at is None  # beyond what a datetime holds: no crash
    received = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ahead = parse(b"From: a@example.org\r\nDate: Mon, 02 Mar 2099 09:00:00 +0000\r\n\r\nx")
    assert ahead.sent_at is not None and plausible_date(ahead.sent_at, received) is None
    assert plausible_date(received, received) == received


def test_html_loses_bidi_overrides_and_remote_images_until_asked():
    html = clean_html(
        '<p>invoice\u202egpj.exe</p><img src="https://tracker.example/p.gif?u=1">'
        '<img src="cid:logo@x" alt="logo">'
    )
    assert html is not None and "\u202e" not in html
    shown, blocked = block_remote_images(html)
    assert blocked == 1 and "tracker.example" not in shown and 'src="cid:logo@x"' in shown
    assert "tracker.example" in html  # stored whole: shown on request
