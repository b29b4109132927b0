"""Backup while 200 chat customers write, restore into a fresh data dir, and find every message
that had been acknowledged before the backup began; restore refuses to overwrite."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import Counter
from pathlib import Path

import websockets
from sqlalchemy import select
from sqlalchemy.engine import make_url

from helpdesk.storage.database import Database
from helpdesk.tickets.models import Direction, Message
from tests.conftest import PASSWORD, People, seed_staff
from tests.support.cli import run_cli
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.postgres import PostgresServer
from tests.support.server import HelpdeskServer

CUSTOMERS = 200
# 200 customers, all on 127.0.0.1 here: the per-address limits (one abusive client) must not
# count them as one, as a proxy's operator would set them.
FAST = {
    "HELPDESK_WEBCHAT__RATE_MESSAGES": "1000000",
    "HELPDESK_WEBCHAT__SESSIONS_PER_ADDRESS": "1000",
    "HELPDESK_WEBCHAT__SOCKETS_PER_ADDRESS": "1000",
    "HELPDESK_PROTECTION__MAX_CONNECTIONS_PER_ADDRESS": "0",
}
LEGACY_FILE = b"an attachment a version before 0007 kept on disk"
OLD_KEY = "a-secret-key-generated-into-the-data-dir-0123456789"


class Writer:
    """A customer who writes one message after another, each after the last one's ack."""

    def __init__(self, name: str, chat: ChatClient) -> None:
        self.name = name
        self.chat = chat
        self.acked: dict[str, float] = {}

    async def write(self, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            client_id = f"{self.name}-{n}"
            frame = await self.chat.say(client_id, client_id)
            assert frame["type"] == "ack", frame
            self.acked[client_id] = time.monotonic()
            n += 1


async def stored_texts(database_url: str) -> Counter[str]:
    db = Database(database_url)
    try:
        async with db.read() as session:
            texts = await session.scalars(
                select(Message.text).where(Message.direction == Direction.IN)
            )
            return Counter(texts)
    finally:
        await db.dispose()


def fresh_database(database_url: str, data_dir: Path) -> str:
    """Where the restore goes: the data dir's own SQLite file, or a new PostgreSQL database."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite+aiosqlite:///{data_dir / 'helpdesk.db'}"
    server = PostgresServer.on_port(url.port)
    assert server is not None
    return server.create_database(f"{url.database}_restored")


async def test_backup_while_customers_write_restores_every_acknowledged_message(
    database_url: str, tmp_path: Path
):
    await seed_staff(database_url)
    server = HelpdeskServer(tmp_path / "server", database_url, **FAST).start()
    digest = hashlib.sha256(LEGACY_FILE).hexdigest()
    legacy = server.data_dir / "attachments" / digest[:2] / digest[2:]
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(LEGACY_FILE)
    (server.data_dir / "secret_key").write_text(OLD_KEY)
    archive = tmp_path / "helpdesk-backup.tar.gz"
    env = {"HELPDESK_DATA_DIR": str(server.data_dir), "HELPDESK_DATABASE_URL": database_url}
    stop = asyncio.Event()
    try:
        tokens = [await chat_token(server.base_url) for _ in range(CUSTOMERS)]
        writers = [
            Writer(f"c{n}", await ChatClient(server.ws_url, token).connect())
            for n, token in enumerate(tokens)
        ]
        writing = [asyncio.create_task(w.write(stop)) for w in writers]
        while sum(len(w.acked) for w in writers) < 2 * CUSTOMERS:
            await asyncio.sleep(0.01)

        began = time.monotonic()
        backup = await run_cli("backup", str(archive), "--quiet", **env)
        ended = time.monotonic()
        stop.set()
        await asyncio.gather(*writing)
    finally:
        stop.set()
        for w in writers:
            with contextlib.suppress(websockets.ConnectionClosed):
                await w.chat.close()
        server.stop()
    assert backup.returncode == 0, backup.stderr
    assert f"backup written to {archive}" in backup.stdout
    before = {m for w in writers for m, at in w.acked.items() if at < began}
    during = {m for w in writers for m, at in w.acked.items() if began <= at < ended}
    assert len(before) >= 2 * CUSTOMERS
    assert during, "nobody wrote while the backup ran: it proves nothing"

    restored_dir = tmp_path / "restored"
    restored_url = fresh_database(database_url, restored_dir)
    target = {"HELPDESK_DATA_DIR": str(restored_dir), "HELPDESK_DATABASE_URL": restored_url}
    restore = await run_cli("restore", str(archive), "--quiet", **target)
    assert restore.returncode == 0, restore.stderr
    assert "restored" in restore.stdout and "2 files in the data dir" in restore.stdout

    texts = await stored_texts(restored_url)
    assert before <= texts.keys(), f"lost: {sorted(before - texts.keys())[:10]}"
    assert set(texts.values()) == {1}, "a message is in the restored database twice"
    assert texts.keys() <= {m for w in writers for m in w.acked}, "unknown messages"
    assert (restored_dir / "secret_key").read_text() == OLD_KEY
    assert (restored_dir / "attachments" / digest[:2] / digest[2:]).read_bytes() == LEGACY_FILE

    # The restored helpdesk serves the conversations.
    again = HelpdeskServer(restored_dir, restored_url).start()
    try:
        sam = await AgentClient(again.base_url).login(People().supervisor, PASSWORD)
        assert (await sam.queue(limit=1))["total"] == CUSTOMERS
        await sam.close()
    finally:
        again.stop()

    # A second restore would overwrite: refused, and nothing is touched.
    refused = await run_cli("restore", str(archive), "--quiet", **target)
    assert refused.returncode == 1
    assert "restore only writes into an empty data dir and database" in refused.stderr
    assert "pass --force" in refused.stderr
    forced = await run_cli("restore", str(archive), "--quiet", "--force", **target)
    assert forced.returncode == 0, forced.stderr
    assert await stored_texts(restored_url) == texts
