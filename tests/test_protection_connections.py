"""One client must not take the server from everyone else: half-sent request heads time out,
one address holds only so many connections, and the open-file limit is raised at start.
Clients come from other loopback addresses (127.0.0.2, ...) to stand for other machines."""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.support.clients import ChatClient, chat_token
from tests.support.server import HelpdeskServer

HALF_HEAD = b"GET /api/health HTTP/1.1\r\nHost: x\r\n"


def _half_open(port: int, source: str) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    conn.sendall(HALF_HEAD)
    return conn


def _answer(conn: socket.socket, timeout: float) -> bytes:
    """What the server sends before it closes the connection (b'' if it just closes)."""
    conn.settimeout(timeout)
    chunks = []
    try:
        while chunk := conn.recv(4096):
            chunks.append(chunk)
    except TimeoutError:
        return b"<still open>"
    return b"".join(chunks)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"


def test_a_half_sent_request_head_is_answered_408_and_closed(tmp_path: Path, sqlite_url: str):
    server = HelpdeskServer(
        tmp_path / "s", sqlite_url, HELPDESK_PROTECTION__HEADER_TIMEOUT_SECONDS="1"
    ).start()
    try:
        started = time.monotonic()
        conn = _half_open(server.port, "127.0.0.2")
        answer = _answer(conn, timeout=6)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"did not arrive in time" in answer
        assert time.monotonic() - started < 4
        # A connection that says nothing at all is closed as well.
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        assert _answer(silent, timeout=6).startswith(b"HTTP/1.1 408")
        # A keep-alive connection's second, half-sent request too.
        conn = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        conn.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n" + HALF_HEAD)
        assert b"HTTP/1.1 408" in _answer(conn, timeout=6)
    finally:
        server.stop()


def test_one_address_holds_only_so_many_connections_and_others_are_served(
    tmp_path: Path, sqlite_url: str
):
    server = HelpdeskServer(
        tmp_path / "s", sqlite_url, HELPDESK_PROTECTION__MAX_CONNECTIONS_PER_ADDRESS="20"
    ).start()
    held: list[socket.socket] = []
    try:
        held = [_half_open(server.port, "127.0.0.2") for _ in range(20)]
        refused = _half_open(server.port, "127.0.0.2")
        answer = _answer(refused, timeout=5)
        assert answer.startswith(b"HTTP/1.1 429"), answer
        assert b"too many open connections from your address" in answer
        # Everyone else is served, chats included.
        assert httpx.get(f"{server.base_url}/api/health", timeout=5).status_code == 200

        async def chat() -> None:
            client = await ChatClient(server.ws_url, await chat_token(server.base_url)).connect()
            assert (await client.say("c1", "hello"))["type"] == "ack"
            await client.close()

        asyncio.run(chat())
        # Slots come back when the connections end (websockets' too: the chat above).
        for conn in held:
            conn.close()
        deadline = time.monotonic() + 5
        while True:
            conn = _half_open(server.port, "127.0.0.2")
            answer = _answer(conn, timeout=0.3)
            conn.close()
            if answer == b"<still open>" or time.monotonic() > deadline:
                break
        assert answer == b"<still open>"
    finally:
        for conn in held:
            conn.close()
        server.stop()


def test_the_open_file_limit_is_raised_at_start(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
):
    # A fresh interpreter inherits this low soft limit, as under a default `ulimit -n`.
    monkeypatch.setenv("TESTS_FORK_SERVERS", "0")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.fail(f"this machine's hard open-file limit ({hard}) leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        server = HelpdeskServer(tmp_path / "s", sqlite_url).start(timeout=60)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert server.process is not None
        limits = Path(f"/proc/{server.process.pid}/limits").read_text()
        line = next(ln for ln in limits.splitlines() if ln.startswith("Max open files"))
        raised = int(line.split()[3])
        wanted = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
        assert raised == wanted, line
    finally:
        server.stop()
