"""Crash safety: SIGKILL the server while customers stream messages, restart it, and check that
every acknowledged message is stored exactly once and the clients' resends fill the gaps.

The kill must come while messages are in flight, not at a quiet moment, or the test proves
nothing: so what the clients had sent and what had been acknowledged is noted at the instant of
the kill, and the database the dead server left behind is read before anything is resent."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import websockets
from sqlalchemy import select

from helpdesk.storage.database import Database
from helpdesk.tickets.models import Direction, Message
from tests.conftest import PASSWORD, People, seed_staff
from tests.support.clients import AgentClient, chat_token
from tests.support.server import HelpdeskServer

CUSTOMERS = 5
MESSAGES_EACH = 400
UNACKED_WINDOW = 20
FAST = {"HELPDESK_WEBCHAT__RATE_MESSAGES": "1000000"}


class StreamingCustomer:
    """Behaves like the widget: numbered messages, a window of unacknowledged ones."""

    def __init__(self, name: str, token: str, on_sent: Callable[[], None] = lambda: None) -> None:
        self.name = name
        self.token = token
        self.acked: set[str] = set()
        self.sent: list[str] = []
        self.on_sent = on_sent

    async def stream(self, ws_url: str, stop_after: int | None = None) -> None:
        """Send every message not yet acknowledged; return when all are, or the server dies."""
        async with websockets.connect(ws_url) as socket:
            await socket.send(json.dumps({"type": "hello", "token": self.token}))
            ready = json.loads(await socket.recv())
            assert ready["type"] == "ready"
            stored = {m["client_id"] for m in ready["history"] if "client_id" in m}
            # What the server stored is done, whether or not its ack ever arrived.
            self.acked |= stored
            todo = [f"{self.name}-{i}" for i in range(MESSAGES_EACH)]
            todo = [c for c in todo if c not in self.acked]
            unacked: set[str] = set()

            async def read_acks() -> None:
                async for raw in socket:
                    frame = json.loads(raw)
                    if frame["type"] == "ack":
                        self.acked.add(frame["client_id"])
                        unacked.discard(frame["client_id"])
                    elif frame["type"] == "error":
                        raise AssertionError(frame)

            reader = asyncio.create_task(read_acks())
            try:
                for client_id in todo[:stop_after]:
                    while len(unacked) >= UNACKED_WINDOW and not reader.done():
                        await asyncio.sleep(0.001)
                    if reader.done():
                        break
                    unacked.add(client_id)
                    self.sent.append(client_id)
                    await socket.send(
                        json.dumps({"type": "message", "client_id": client_id, "text": client_id})
                    )
                    self.on_sent()
                while not reader.done() and len(self.acked) < MESSAGES_EACH:
                    await asyncio.sleep(0.01)
            except websockets.ConnectionClosed:
                pass
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                    await reader


async def stored_texts(database_url: str) -> Counter[str]:
    """How often each customer message is in the database."""
    db = Database(database_url)
    try:
        async with db.read() as session:
            texts = await session.scalars(
                select(Message.text).where(
                    Message.channel == "webchat", Message.direction == Direction.IN
                )
            )
            return Counter(texts)
    finally:
        await db.dispose()


@pytest.mark.kills_processes
async def test_sigkill_mid_stream_loses_and_doubles_nothing(database_url: str, tmp_path: Path):
    await seed_staff(database_url)
    first = HelpdeskServer(tmp_path / "server", database_url, **FAST).start()
    sent_at_kill: set[str] = set()
    acked_at_kill: set[str] = set()

    def kill_once_a_quarter_is_acknowledged() -> None:
        """Called as each message has gone to the socket. Killing right then, with no await in
        between, leaves the server next to no time to store that message, let alone ack it,
        however far behind the clients are in reading acks (which would make the server look
        idle if the kill came on reading one)."""
        if sent_at_kill or sum(len(c.acked) for c in customers) < CUSTOMERS * MESSAGES_EACH // 4:
            return
        sent_at_kill.update(m for c in customers for m in c.sent)
        acked_at_kill.update(m for c in customers for m in c.acked)
        first.kill()

    customers = [
        StreamingCustomer(
            f"c{n}", await chat_token(first.base_url), kill_once_a_quarter_is_acknowledged
        )
        for n in range(CUSTOMERS)
    ]
    streams = [asyncio.create_task(c.stream(first.ws_url)) for c in customers]
    ended = await asyncio.gather(*streams, return_exceptions=True)
    failed = [e for e in ended if e and not isinstance(e, websockets.ConnectionClosed | OSError)]
    assert not failed, failed
    assert sent_at_kill, "the server was not killed"
    # Acks the server wrote just before it died may still have been read after the kill.
    acked = {m for c in customers for m in c.acked}
    sent = {m for c in customers for m in c.sent}
    never_acked = sent_at_kill - acked
    assert 0 < len(acked) < CUSTOMERS * MESSAGES_EACH
    assert never_acked, "no message was in flight at the kill: it proves nothing"

    # What the dead server left behind, before any resend: every acknowledged message exactly
    # once, every other one it had been sent at most once, and nothing else.
    survived = await stored_texts(database_url)
    doubled = {text: n for text, n in survived.items() if n > 1}
    assert not doubled, f"stored twice: {doubled}"
    assert acked <= survived.keys(), "an acknowledged message was lost"
    assert survived.keys() <= sent, "something was stored that nobody sent"
    stored_unacked = survived.keys() - acked

    second = HelpdeskServer(tmp_path / "server", database_url, **FAST).start()
    try:
        await asyncio.gather(*(c.stream(second.ws_url) for c in customers))
        sam = await AgentClient(second.base_url).login(People().supervisor, PASSWORD)
        queue = await sam.queue(limit=200)
        assert queue["total"] == CUSTOMERS
        for summary in queue["tickets"]:
            texts = [m["text"] for m in (await sam.ticket(summary["number"])).json()["messages"]]
            owner = texts[0].split("-")[0]
            expected = [f"{owner}-{i}" for i in range(MESSAGES_EACH)]
            assert sorted(texts) == sorted(expected), "a message was lost or stored twice"
            assert texts == expected, "messages of one customer must keep their order"
        await sam.close()
    finally:
        second.stop()
    final = await stored_texts(database_url)
    assert set(final.values()) == {1} and len(final) == CUSTOMERS * MESSAGES_EACH
    print(
        f"at the kill: {len(acked_at_kill)} acknowledged, {len(sent_at_kill - acked_at_kill)} "
        f"in flight; of these {len(acked - acked_at_kill)} were acknowledged as the server died, "
        f"{len(stored_unacked)} stored without an ack and {len(never_acked - survived.keys())} "
        "lost until resent; after the restart every message is stored exactly once"
    )
