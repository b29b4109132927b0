"""Clients that speak to a running helpdesk as a customer's chat and as an agent would."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection


async def chat_token(base_url: str, token: str | None = None) -> str:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/api/chat/sessions", json={"token": token})
        response.raise_for_status()
        return response.json()["token"]


class ChatClient:
    """One customer's chat connection; frames that arrive are kept in order of arrival."""

    def __init__(self, ws_url: str, token: str) -> None:
        self.ws_url = ws_url
        self.token = token
        self.socket: ClientConnection | None = None
        self.ready: dict[str, Any] = {}

    async def connect(self) -> ChatClient:
        self.socket = await websockets.connect(self.ws_url, max_size=None)
        await self.send_frame({"type": "hello", "token": self.token})
        self.ready = await self.expect("ready")
        return self

    async def send_frame(self, frame: dict[str, Any] | str) -> None:
        assert self.socket is not None
        await self.socket.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def say(self, client_id: str, text: str) -> dict[str, Any]:
        """Send a message and wait for its acknowledgement (or error)."""
        await self.send_frame({"type": "message", "client_id": client_id, "text": text})
        return await self.expect("ack", "error")

    async def next_frame(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.socket is not None
        return json.loads(await asyncio.wait_for(self.socket.recv(), timeout))

    async def expect(self, *types: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next frame of one of these types; others arriving first are skipped."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.next_frame(timeout)
                if frame["type"] in types:
                    return frame

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


class AgentClient:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10)

    async def login(self, email: str, password: str) -> AgentClient:
        response = await self.http.post(
            "/api/auth/login", json={"email": email, "password": password}
        )
        response.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {response.json()['token']}"
        return self

    async def queue(self, **params: Any) -> dict[str, Any]:
        response = await self.http.get("/api/tickets", params=params)
        response.raise_for_status()
        return response.json()

    async def ticket(self, number: int) -> httpx.Response:
        return await self.http.get(f"/api/tickets/{number}")

    async def reply(self, number: int, text: str, key: str | None = None) -> httpx.Response:
        return await self.http.post(
            f"/api/tickets/{number}/reply", json={"text": text, "idempotency_key": key}
        )

    async def note(self, number: int, text: str) -> httpx.Response:
        return await self.http.post(f"/api/tickets/{number}/notes", json={"text": text})

    async def change(self, number: int, **fields: Any) -> httpx.Response:
        return await self.http.patch(f"/api/tickets/{number}", json=fields)

    async def reactions_settled(self, timeout: float = 10.0) -> None:
        """Until no event waits for any reaction (`GET /api/reactions`): every decision about
        what has been committed so far, including to do nothing, has been taken."""
        async with asyncio.timeout(timeout):
            while True:
                response = await self.http.get("/api/reactions")
                response.raise_for_status()
                if not any(r["waiting"] for r in response.json()):
                    return
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self.http.aclose()
