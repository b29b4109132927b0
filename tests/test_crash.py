"""Crash safety: SIGKILL the server while customers stream messages, restart it, and check that
every acknowledged message is stored exactly once and the clients' resends fill the gaps."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import websockets

from tests.conftest import PASSWORD, People, seed_staff
from tests.support.clients import AgentClient, chat_token
from tests.support.server import HelpdeskServer

CUSTOMERS = 5
MESSAGES_EACH = 400
UNACKED_WINDOW = 20
FAST = {"HELPDESK_WEBCHAT__RATE_MESSAGES": "1000000"}


class StreamingCustomer:
    """Behaves like the widget: numbered messages, a window of unacknowledged ones."""

    def __init__(self, name: str, token: str) -> None:
        self.name = name
        self.token = token
        self.acked: set[str] = set()
        self.sent: list[str] = []

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
                while not reader.done() and len(self.acked) < MESSAGES_EACH:
                    await asyncio.sleep(0.01)
            except websockets.ConnectionClosed:
                pass
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                    await reader


async def test_sigkill_mid_stream_loses_and_doubles_nothing(database_url: str, tmp_path: Path):
    await seed_staff(database_url)
    first = HelpdeskServer(tmp_path / "server", database_url, **FAST).start()
    customers = [
        StreamingCustomer(f"c{n}", await chat_token(first.base_url)) for n in range(CUSTOMERS)
    ]
    streams = [asyncio.create_task(c.stream(first.ws_url)) for c in customers]

    # Kill the server once a good part has been acknowledged, while messages are in flight.
    while sum(len(c.acked) for c in customers) < CUSTOMERS * MESSAGES_EACH // 4:
        await asyncio.sleep(0.005)
    first.kill()
    await asyncio.gather(*streams, return_exceptions=True)
    acked_before_crash = {c.name: set(c.acked) for c in customers}
    in_flight = sum(len(c.sent) - len(c.acked) for c in customers)
    assert 0 < sum(len(a) for a in acked_before_crash.values()) < CUSTOMERS * MESSAGES_EACH

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
            assert acked_before_crash[owner] <= set(texts)
        await sam.close()
    finally:
        second.stop()
    print(f"in flight at the kill: {in_flight} messages; all stored exactly once after resend")
