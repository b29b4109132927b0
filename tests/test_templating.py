"""The operator's templates folder: a file there replaces the shipped one of its name wherever
it is used (web page, email, Telegram), every other template stays as shipped, and a folder that
is missing or holds a broken template stops start-up naming the setting."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from helpdesk.channels.email.importer import RawMail
from helpdesk.channels.telegram.render import TelegramTexts
from helpdesk.config import ConfigError, load_settings
from helpdesk.runtime import Runtime
from helpdesk.web.app import create_app
from tests.support.dovecot import mail
from tests.support.smtp import SmtpServer

SECRET = "test-secret-key-that-is-long-enough-0123456789"


def operator_folder(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (root / name).write_bytes(content)
        else:
            (root / name).write_text(content)
    return root


async def test_an_operator_file_replaces_the_shipped_one_and_no_other(tmp_path: Path):
    folder = operator_folder(
        tmp_path / "operator",
        {
            "chat_demo.html": "<h1>Our own page</h1>{{ public_url }}",
            "email_ack.txt": "We have your mail; it is ticket {{ ticket_number }}.\n",
            "telegram/greeting.html": "Hi {{ name }}!",
        },
    )
    smtp = await SmtpServer().start()
    settings = load_settings(
        data_dir=tmp_path / "data",
        secret_key=SECRET,
        templates_dir=folder,
        email={"smtp": smtp.settings(), "from_address": "support@example.test"},
        outbox={"poll_seconds": 0.2},
    )
    runtime = Runtime(settings)
    await runtime.start()
    try:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://helpdesk.test") as http:
            page = await http.get("/chat")
        assert page.text == f"<h1>Our own page</h1>{settings.public_url}"

        # The acknowledgement's text is the operator's; the mail around it is as shipped.
        customer = mail("Jane <jane@customer.test>", "Router broken", "It blinks red.")
        await runtime.email.importer.import_batch("support", [RawMail(None, bytes(customer))])
        [ack] = await smtp.wait_for(1)
        plain = ack.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert plain.startswith("We have your mail; it is ticket 1.\n\n-- \nSupport\n")
        assert "you wrote:\n> It blinks red." in plain
        html = ack.message.get_body(("html",)).get_content()
        assert '<div style="white-space: pre-wrap;">We have your mail; it is ticket 1.' in html

        # Telegram: the replaced greeting, still escaped; the reply template as shipped.
        texts = TelegramTexts(runtime.templates)
        assert texts.template("greeting", name="<Ann>") == "Hi &lt;Ann&gt;!"
        chunks = texts.message_chunks("a < b", author_name="Alice", header=True)
        assert chunks == ["<b>Alice</b>\na &lt; b"]
    finally:
        await runtime.stop()
        await smtp.stop()


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (None, "HELPDESK_TEMPLATES_DIR (templates_dir in helpdesk.toml): no such folder"),
        (
            {"telegram/message.html": "{% if header %}<b>{{ author_name }}</b>"},
            "message.html, line 1: Unexpected end of template",
        ),
        ({"email_ack.txt": b"\xff\xfe ticket"}, "email_ack.txt: not UTF-8"),
    ],
)
def test_a_missing_folder_or_a_broken_template_is_a_configuration_error(
    tmp_path: Path, files: dict[str, str | bytes] | None, expected: str
):
    folder = tmp_path / "operator"
    if files is not None:
        operator_folder(folder, files)
    with pytest.raises(ConfigError) as raised:
        load_settings(data_dir=tmp_path, templates_dir=folder)
    assert expected in str(raised.value)
    assert "HELPDESK_TEMPLATES_DIR" in str(raised.value)


def test_a_file_that_replaces_no_template_is_not_checked(tmp_path: Path):
    """Editor backups and notes may sit in the folder; only files loaded as templates matter."""
    folder = operator_folder(tmp_path / "operator", {"notes.txt": "{% broken"})
    assert load_settings(data_dir=tmp_path, templates_dir=folder).templates_dir == folder
