"""JSON logs: a message can be followed by its ticket and message ids from the chat to the reply
and its delivery; requests carry their id; secrets never appear."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import PASSWORD, People, seed_staff
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer

SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"


def json_lines(server: HelpdeskServer) -> list[dict[str, Any]]:
    lines = []
    for raw in server.log().splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


async def test_a_message_is_followed_from_chat_to_reply_in_json_logs(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
    await seed_staff(url)
    server = HelpdeskServer(
        tmp_path / "server",
        url,
        HELPDESK_LOG_LEVEL="info",
        HELPDESK_OPERATIONS__LOG_FORMAT="json",
        HELPDESK_OPERATIONS__TRACE_MESSAGES="true",
    ).start()
    try:
        chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
        ack = await chat.say("m1", "My parcel never came")
        ticket, message = ack["ticket"], ack["message_id"]
        alice = await AgentClient(server.base_url).login(People().alice, PASSWORD)
        reply = await alice.reply(ticket, "Sending a new one today.")
        reply_id = reply.json()["message"]["id"]
        pushed = await chat.expect("message")
        await chat.send_frame({"type": "received", "ids": [pushed["id"]]})
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            traced = await http.get("/api/health", headers={"X-Request-ID": "lb-42"})
            fresh = await http.get("/api/health")
        assert traced.headers["x-request-id"] == "lb-42"
        assert len(fresh.headers["x-request-id"]) == 16

        wanted = {
            ("MessageReceived", message),
            ("ReplyQueued", reply_id),
            ("DeliveryChanged", reply_id),
        }
        for _ in range(200):
            steps = {
                (line["event"], line["message_id"])
                for line in json_lines(server)
                if line["logger"] == "helpdesk.trace" and line.get("ticket_id") == ticket
            }
            if wanted <= steps:
                break
            await asyncio.sleep(0.05)
        assert wanted <= steps, steps
        await chat.close()
        await alice.close()
    finally:
        server.stop()

    lines = json_lines(server)
    assert lines and all(
        {"time", "level", "logger", "message", "request_id"} <= set(e) for e in lines
    )
    access = [e for e in lines if e["logger"] == "uvicorn.access" and "/api/health" in e["message"]]
    assert "lb-42" in {e["request_id"] for e in access}
    log = server.log()
    assert SECRET_KEY not in log and PASSWORD not in log
    assert "Bearer " not in log.replace("Bearer ***", "")
