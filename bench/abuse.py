"""Abuse: does a well-behaved chat customer stay served while one hostile client hits the server?

What is measured: `helpdesk serve` runs as a subprocess (SQLite, or a throwaway PostgreSQL with
`--db postgresql`) with its default protections.
Ten well-behaved customers (from 127.0.0.1) keep one chat each open and send a message about
once a second; each message's round trip (frame handed to the socket -> `ack`, which the server
sends after the commit) is recorded. In turn, for `--seconds` each, an attacker process from
another loopback address (127.0.0.2-6, standing for another machine) does one of:

  * `half-open`  keeps up to 3,000 connections open that each sent only part of a request head
                 (`GET /api/health HTTP/1.1\\r\\nHost: x\\r\\n`), opening a new one for each the
                 server closes;
  * `logins`     16 parallel login attempts with random emails, again and again;
  * `junk`       7,000 junk frames/s (pings, receipts, unknown types, bad JSON, binary) on one
                 chat socket, reconnecting whenever the server closes it;
  * `sessions`   100 new chat sessions/s; each session granted opens its socket and writes.

A first row, `quiet`, has no attacker. For each row: the customers' round trip p50/p99/max, the
server's peak resident memory (sampled every 0.25 s), and what the attacker got (refused, closed,
answered). Targets: p99 < 100 ms and memory < 400 MB in every row. Loopback only, bounded in
time (about 25 s a row) and in count.

    python bench/abuse.py                 # every row, 15 s each, SQLite
    python bench/abuse.py --db postgresql
    python bench/abuse.py --seconds 10 --only half-open junk
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import resource
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.postgres import PostgresServer
from tests.support.server import HelpdeskServer

TARGET_P99_MS = 100.0
TARGET_RSS_MB = 400.0
CUSTOMERS = 10
ATTACKS = ("half-open", "logins", "junk", "sessions")
SOURCE = {"half-open": "127.0.0.2", "logins": "127.0.0.3", "junk": "127.0.0.4"}
SOURCE["sessions"] = "127.0.0.5"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def raise_open_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


# --- the attackers, each in its own process --------------------------------------------------


async def half_open(port: int, seconds: float, tally: Counter[str]) -> None:
    deadline = time.monotonic() + seconds
    head = b"GET /api/health HTTP/1.1\r\nHost: x\r\n"

    async def hold() -> None:
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, local_addr=(SOURCE["half-open"], 0)
                )
            except OSError:
                tally["connect failed"] += 1
                await asyncio.sleep(0.1)
                continue
            tally["opened"] += 1
            try:
                writer.write(head)
                left = deadline - time.monotonic()
                answer = await asyncio.wait_for(reader.read(64), max(0.01, left))
                code = answer[9:12].decode(errors="replace") or "closed"
                tally[f"answered {code}"] += 1
            except (TimeoutError, OSError):
                pass
            finally:
                writer.close()

    await asyncio.gather(*(hold() for _ in range(3000)))


async def logins(port: int, seconds: float, tally: Counter[str]) -> None:
    deadline = time.monotonic() + seconds
    transport = httpx.AsyncHTTPTransport(local_address=SOURCE["logins"])
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", transport=transport, timeout=30
    ) as http:

        async def one() -> None:
            while time.monotonic() < deadline:
                email = f"{secrets.token_hex(6)}@example.test"
                try:
                    answer = await http.post(
                        "/api/auth/login", json={"email": email, "password": "guess"}
                    )
                    tally[f"answered {answer.status_code}"] += 1
                except httpx.HTTPError as exc:
                    tally[type(exc).__name__] += 1

        await asyncio.gather(*(one() for _ in range(16)))


JUNK: list[str | bytes] = [
    json.dumps({"type": "ping"}),
    json.dumps({"type": "received", "ids": [1, 2, 3]}),
    json.dumps({"type": "teleport"}),
    "{not json",
    b"\x00\xff binary",
]


async def junk(port: int, seconds: float, tally: Counter[str]) -> None:
    deadline = time.monotonic() + seconds
    transport = httpx.AsyncHTTPTransport(local_address=SOURCE["junk"])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", transport=transport) as h:
        token = (await h.post("/api/chat/sessions")).json()["token"]
    url = f"ws://127.0.0.1:{port}/api/chat/ws"
    sent = 0
    started = time.monotonic()
    while time.monotonic() < deadline:
        try:
            socket = await websockets.connect(url, local_addr=(SOURCE["junk"], 0))
            await socket.send(json.dumps({"type": "hello", "token": token}))
            tally["sockets opened"] += 1
            # Read what the server answers, as a browser would, so its close is seen.
            reader = asyncio.create_task(_drain(socket))
            try:
                while time.monotonic() < deadline and not reader.done():
                    # 7,000 frames a second, in bursts of 70 every 10 ms.
                    for _ in range(70):
                        await socket.send(random.choice(JUNK))
                    sent += 70
                    ahead = sent / 7000 - (time.monotonic() - started)
                    await asyncio.sleep(max(0.0, ahead))
            finally:
                reader.cancel()
            if socket.close_code is not None:
                tally[f"closed by server {socket.close_code}"] += 1
            await socket.close()
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else "none"
            tally[f"closed by server {code}"] += 1
        except (OSError, websockets.InvalidStatus):
            tally["connect refused"] += 1
            await asyncio.sleep(0.01)
    tally["frames sent"] = sent


async def _drain(socket: Any) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for _ in socket:
            pass


async def sessions(port: int, seconds: float, tally: Counter[str]) -> None:
    deadline = time.monotonic() + seconds
    transport = httpx.AsyncHTTPTransport(local_address=SOURCE["sessions"])
    url = f"ws://127.0.0.1:{port}/api/chat/ws"
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", transport=transport, timeout=10
    ) as http:

        async def one() -> None:
            answer = await http.post("/api/chat/sessions")
            tally[f"session {answer.status_code}"] += 1
            if answer.status_code != 200:
                return
            try:
                async with websockets.connect(url, local_addr=(SOURCE["sessions"], 0)) as ws:
                    await ws.send(json.dumps({"type": "hello", "token": answer.json()["token"]}))
                    await ws.recv()
                    await ws.send(json.dumps({"type": "message", "client_id": "x", "text": "hi"}))
                    tally[f"wrote: {json.loads(await ws.recv())['type']}"] += 1
            except (OSError, websockets.WebSocketException):
                tally["socket failed"] += 1

        tasks = []
        started = time.monotonic()
        while time.monotonic() < deadline:
            tasks.append(asyncio.create_task(one()))
            await asyncio.sleep(max(0.0, len(tasks) / 100 - (time.monotonic() - started)))
        await asyncio.gather(*tasks, return_exceptions=True)


def attacker(kind: str, port: int, seconds: float, results: Any) -> None:
    raise_open_file_limit()
    tally: Counter[str] = Counter()
    attack = {"half-open": half_open, "logins": logins, "junk": junk, "sessions": sessions}[kind]
    try:
        asyncio.run(attack(port, seconds, tally))
    except Exception as exc:  # the attacker's trouble is reported, not raised
        tally[f"attacker error {type(exc).__name__}"] += 1
    results.put(dict(tally))


# --- the well-behaved customers and the server's memory ---------------------------------------


class Customers:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sockets: list[Any] = []
        self.latencies: list[float] = []
        self.failures: Counter[str] = Counter()

    async def open(self) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as http:
            for _ in range(CUSTOMERS):
                token = (await http.post("/api/chat/sessions")).json()["token"]
                ws = await websockets.connect(f"ws://127.0.0.1:{self.port}/api/chat/ws")
                await ws.send(json.dumps({"type": "hello", "token": token}))
                while json.loads(await ws.recv())["type"] != "ready":
                    pass
                self.sockets.append(ws)

    async def talk(self, seconds: float) -> None:
        self.latencies = []
        self.failures = Counter()
        await asyncio.gather(*(self._talk(i, ws, seconds) for i, ws in enumerate(self.sockets)))

    async def _talk(self, number: int, ws: Any, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        await asyncio.sleep(number / CUSTOMERS)  # spread the customers over the second
        while time.monotonic() < deadline:
            client_id = secrets.token_hex(6)
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "message", "client_id": client_id, "text": "hi"}))
            try:
                async with asyncio.timeout(10):
                    while True:
                        frame = json.loads(await ws.recv())
                        if frame.get("client_id") == client_id:
                            break
            except TimeoutError:
                self.failures["no ack in 10 s"] += 1
                continue
            if frame["type"] == "ack":
                self.latencies.append(time.perf_counter() - started)
            else:
                self.failures[frame.get("code", frame["type"])] += 1
            await asyncio.sleep(max(0.0, 1.05 - (time.perf_counter() - started)))


async def server_usage(pid: int, stop: asyncio.Event) -> tuple[int, float, float]:
    """Peak resident memory, and the server's and the whole machine's CPU over the row (100%
    = one core)."""
    process, peak = psutil.Process(pid), 0
    started, cpu = time.monotonic(), process.cpu_times()
    psutil.cpu_percent()
    while not stop.is_set():
        peak = max(peak, process.memory_info().rss)
        await asyncio.sleep(0.25)
    spent = process.cpu_times()
    seconds = time.monotonic() - started
    server = (spent.user + spent.system - cpu.user - cpu.system) / seconds * 100
    return peak, server, psutil.cpu_percent() * (psutil.cpu_count() or 1)


async def run(options: argparse.Namespace) -> list[dict[str, Any]]:
    raise_open_file_limit()
    os.environ.setdefault("TESTS_FORK_SERVERS", "0")
    root = Path(tempfile.mkdtemp(prefix="bench-abuse-"))
    postgres = PostgresServer().start() if options.db == "postgresql" else None
    url = (
        postgres.create_database("bench")
        if postgres is not None
        else f"sqlite+aiosqlite:///{root / 'helpdesk.db'}"
    )
    server = HelpdeskServer(root / "server", url, HELPDESK_LOG_LEVEL="error").start(timeout=60)
    assert server.process is not None
    rows = []
    try:
        customers = Customers(server.port)
        await customers.open()
        spawn = mp.get_context("spawn")
        for kind in ["quiet", *options.only]:
            results = spawn.Queue()
            process = None
            if kind != "quiet":
                process = spawn.Process(
                    target=attacker, args=(kind, server.port, options.seconds + 1, results)
                )
                process.start()
                await asyncio.sleep(1.0)  # the attack is under way before measuring
            stop = asyncio.Event()
            usage = asyncio.create_task(server_usage(server.process.pid, stop))
            await customers.talk(options.seconds)
            stop.set()
            rss, server_cpu, machine_cpu = await usage
            tally: dict[str, int] = {}
            if process is not None:
                tally = await asyncio.to_thread(results.get, True, 60)
                await asyncio.to_thread(process.join, 30)
            rows.append(
                {
                    "attack": kind,
                    "acks": len(customers.latencies),
                    "p50": percentile(customers.latencies, 0.5) * 1000,
                    "p99": percentile(customers.latencies, 0.99) * 1000,
                    "max": max(customers.latencies, default=float("nan")) * 1000,
                    "rss": rss / 2**20,
                    "cpu": server_cpu,
                    "machine": machine_cpu,
                    "failures": dict(customers.failures),
                    "attacker": tally,
                }
            )
            await asyncio.sleep(2.0)  # let the server let go of the attack before the next
    finally:
        server.stop()
        if postgres is not None:
            postgres.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=15.0, help="each row (default 15)")
    parser.add_argument("--only", nargs="+", choices=ATTACKS, default=list(ATTACKS))
    options = parser.parse_args()
    rows = asyncio.run(run(options))
    database = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[options.db]
    print(f"\nwell-behaved customers: {CUSTOMERS}, one message a second each; {database}")
    print(
        f"{'attack':<10} {'acks':>5} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'RSS MB':>7} {'srv CPU':>7} {'all CPU':>7}  {'target':<6}  what the attacker got"
    )
    for row in rows:
        met = row["p99"] < TARGET_P99_MS and row["rss"] < TARGET_RSS_MB and not row["failures"]
        got = ", ".join(f"{k}: {v}" for k, v in sorted(row["attacker"].items())) or "-"
        print(
            f"{row['attack']:<10} {row['acks']:>5} {row['p50']:>7.1f} {row['p99']:>7.1f} "
            f"{row['max']:>7.1f} {row['rss']:>7.0f} {row['cpu']:>6.0f}% {row['machine']:>6.0f}%  "
            f"{'met' if met else 'MISSED':<6}  {got}"
        )
        if row["failures"]:
            print(f"{'':<10} customers' failures: {row['failures']}")
    print(f"targets: p99 < {TARGET_P99_MS:.0f} ms, server memory < {TARGET_RSS_MB:.0f} MB")
    cores = psutil.cpu_count() or 1
    print(f"CPU: 100% = one core; this machine has {cores}. 'all CPU' counts the attacker, the")
    print("customers and any other process: near the machine's total, the figures are contended.")


if __name__ == "__main__":
    main()
