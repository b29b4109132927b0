"""`helpdesk customers export-data ID FILE` and `helpdesk customers erase ID`, as an operator
runs them against the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from sqlalchemy import select

from helpdesk.config import load_settings
from helpdesk.customers.models import Customer
from helpdesk.messages import InboundAttachment, InboundMessage
from helpdesk.runtime import Runtime
from helpdesk.tickets.models import AuditEntry
from tests.test_cli import helpdesk


async def test_an_operator_exports_and_erases_a_customer(database_url: str, tmp_path: Path):
    data_dir = tmp_path / "data"
    settings = load_settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-0123456789",
    )
    runtime = Runtime(settings)
    await runtime.start()
    try:
        receipt = await runtime.intake.receive(
            InboundMessage(
                channel="telegram",
                external_id="55:1",
                sender="55",
                sender_name="Tim Telegram",
                text="Please delete me",
                attachments=(InboundAttachment("note.txt", "text/plain", b"tim's file"),),
            )
        )
    finally:
        await runtime.stop()
    env = {"HELPDESK_DATABASE_URL": database_url, "HELPDESK_DATA_DIR": str(data_dir)}
    file = tmp_path / "tim.zip"

    done = helpdesk(
        "customers", "export-data", str(receipt.customer_id), str(file), cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(file) as archive:
        document = json.loads(archive.read("customer.json"))
        [message] = document["tickets"][0]["messages"]
        assert message["text"] == "Please delete me"
        assert archive.read(message["attachments"][0]["path"]) == b"tim's file"
    assert document["customer"]["name"] == "Tim Telegram"

    missing = helpdesk("customers", "export-data", "424242", str(file), cwd=tmp_path, env=env)
    assert missing.returncode == 1 and "no customer 424242" in missing.stderr
    refused = helpdesk(
        "customers", "erase", str(receipt.customer_id), cwd=tmp_path, env=env, stdin="n\n"
    )
    assert refused.returncode == 1 and "Aborted" in refused.stderr
    erased = helpdesk(
        "customers", "erase", str(receipt.customer_id), "--yes", cwd=tmp_path, env=env
    )
    assert erased.returncode == 0, erased.stderr
    assert "1 tickets, 1 messages, 1 files" in erased.stdout

    runtime = Runtime(settings)
    try:
        async with runtime.db.read() as session:
            customer = await session.get(Customer, receipt.customer_id)
            assert customer is not None and customer.name == f"erased customer #{customer.id}"
            actions = list(await session.scalars(select(AuditEntry.action)))
        assert "customer.exported" in actions and "customer.erased" in actions
    finally:
        await runtime.db.dispose()
