"""The scheduler in real time, through the real server: a timer fires within a second of its
due moment; after a kill -9 with timers overdue each step fires exactly once on restart; two
processes on one PostgreSQL fire each step once between them."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, People, seed_staff
from tests.support.clients import AgentClient, ChatClient, chat_token
from tests.support.server import HelpdeskServer


def fast_policy(seconds: float, warning_share: float) -> dict[str, str]:
    """Every ticket owes its first response within `seconds` (a day for the rest)."""
    policy = {
        "name": "fast",
        "first_response_hours": seconds / 3600,
        "next_response_hours": 24,
        "resolution_hours": 24,
        "warning_share": warning_share,
        "further_after_hours": 1,
    }
    return {"HELPDESK_SLA__POLICIES": json.dumps([policy])}


async def open_tickets(server: HelpdeskServer, count: int) -> list[int]:
    numbers = []
    for n in range(count):
        chat = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
        ack = await chat.say(f"m{n}", f"Question number {n}")
        numbers.append(ack["ticket"])
        await chat.close()
    return numbers


async def wait_for_escalations(
    agent: AgentClient, wanted: int, timeout: float = 30.0
) -> list[dict[str, object]]:
    async with asyncio.timeout(timeout):
        while True:
            response = await agent.http.get("/api/escalations", params={"limit": 500})
            response.raise_for_status()
            found: list[dict[str, object]] = response.json()
            if len(found) >= wanted:
                return found
            await asyncio.sleep(0.05)


async def timers_exist(agent: AgentClient, numbers: list[int]) -> None:
    async with asyncio.timeout(10):
        for number in numbers:
            while not (await agent.http.get(f"/api/tickets/{number}/sla")).json():
                await asyncio.sleep(0.02)


def once_each(escalations: list[dict[str, object]], numbers: list[int]) -> None:
    counts = Counter((e["ticket"], e["level"]) for e in escalations)
    expected = {(n, level): 1 for n in numbers for level in ("warning", "breach")}
    assert dict(counts) == expected


async def test_a_timer_due_in_two_seconds_fires_within_a_second(database_url: str, tmp_path: Path):
    await seed_staff(database_url)
    server = HelpdeskServer(tmp_path / "server", database_url, **fast_policy(2, 0.5)).start()
    try:
        sam = await AgentClient(server.base_url).login(People.supervisor, PASSWORD)
        [number] = await open_tickets(server, 1)
        await timers_exist(sam, [number])
        [first] = [
            t
            for t in (await sam.http.get(f"/api/tickets/{number}/sla")).json()
            if t["metric"] == "first_response"
        ]
        due = datetime.fromisoformat(first["due_at"])
        escalations = await wait_for_escalations(sam, 2, timeout=10)
        [breach] = [e for e in escalations if e["level"] == "breach"]
        lag = (datetime.fromisoformat(str(breach["raised_at"])) - due).total_seconds()
        assert 0 <= lag < 1.0, f"fired {lag:.3f} s after its due moment"
        started = datetime.fromisoformat(first["started_at"])
        assert abs((due - started).total_seconds() - 2) < 0.01
        await sam.close()
    finally:
        server.stop()


@pytest.mark.kills_processes
async def test_overdue_timers_fire_once_each_after_a_kill(database_url: str, tmp_path: Path):
    await seed_staff(database_url)
    env = fast_policy(3, 0.9)
    server = HelpdeskServer(tmp_path / "server", database_url, **env).start()
    sam = await AgentClient(server.base_url).login(People.supervisor, PASSWORD)
    numbers = await open_tickets(server, 5)
    await timers_exist(sam, numbers)
    server.kill()  # before the first warning (2.7 s): nothing has fired
    await sam.close()
    await asyncio.sleep(3.5)  # every warning and breach is overdue now

    again = HelpdeskServer(tmp_path / "server", database_url, port=server.port, **env).start()
    try:
        sam = await AgentClient(again.base_url).login(People.supervisor, PASSWORD)
        escalations = await wait_for_escalations(sam, 2 * len(numbers))
        await asyncio.sleep(1.0)  # anything fired twice would show by now
        escalations = await wait_for_escalations(sam, 2 * len(numbers))
        once_each(escalations, numbers)
        await sam.close()
    finally:
        again.stop()


async def test_two_processes_fire_each_escalation_once(postgres, tmp_path: Path):
    database_url = postgres.create_database(f"sla_two_{int(time.time() * 1000)}")
    await seed_staff(database_url)
    env = fast_policy(2, 0.5)
    one = HelpdeskServer(tmp_path / "one", database_url, **env).start()
    two = HelpdeskServer(tmp_path / "two", database_url, **env).start()
    try:
        numbers = await open_tickets(one, 10) + await open_tickets(two, 10)
        sam = await AgentClient(one.base_url).login(People.supervisor, PASSWORD)
        escalations = await wait_for_escalations(sam, 2 * len(numbers))
        await asyncio.sleep(1.0)
        escalations = await wait_for_escalations(sam, 2 * len(numbers))
        once_each(escalations, numbers)
        await sam.close()
    finally:
        one.stop()
        two.stop()
