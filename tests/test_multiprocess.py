"""Several helpdesk processes on one PostgreSQL database act as one helpdesk: a customer
connected to one process gets replies and typing sent through another, each reply once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, People, seed_staff
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_replies_reach_a_customer_connected_to_another_process(
    database_url: str, tmp_path: Path
):
    await seed_staff(database_url)
    front = HelpdeskServer(tmp_path / "front", database_url).start()
    back = HelpdeskServer(tmp_path / "back", database_url).start()
    try:
        chat = await ChatClient(front.ws_url, await chat_token(front.base_url)).connect()
        number = (await chat.say("hello", "Hi, anyone?"))["ticket"]
        alice = await AgentClient(back.base_url).login(People().alice, PASSWORD)

        await alice.http.post(f"/api/tickets/{number}/typing")
        assert (await chat.expect("typing"))["name"] == "Alice Agent"

        # Either process's outbox worker may deliver; every reply must arrive exactly once.
        texts = [f"reply {n}" for n in range(6)] + ["long " * 3000]
        for text in texts:
            assert (await alice.reply(number, text)).status_code == 200
        received = [(await chat.expect("message"))["text"] for _ in texts]
        assert sorted(received) == sorted(t.strip() for t in texts)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(chat.expect("message"), 1.0)
        await chat.close()
        await alice.close()
    finally:
        front.stop()
        back.stop()
