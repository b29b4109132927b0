"""Web chat at scale: many concurrent customers against the real server, customer-to-stored latency.

What is measured: `helpdesk serve` runs as a subprocess (SQLite by default, `--db postgresql` for a
throwaway PostgreSQL with fsync on). Client worker processes (default 2 x 500) each open their
chats: POST /api/chat/sessions for a token, connect to /api/chat/ws, send `hello`, wait for `ready`.
Once every chat is open, each customer sends a message every `--min-interval`..`--max-interval`
seconds (uniform jitter; the server allows 10 per 10 s per chat) for `--seconds`, then the clients
wait up to `--drain` seconds for outstanding acks.

How to read it:
  * `latency`   time from handing a `message` frame to the socket until its `ack` arrived. The
                server acks only after the commit, so this is customer-to-stored; it also includes
                the client process's own scheduling delay, shown as `client loop lag`.
  * `p99 by fifth of phase`  p99 of the messages sent in each fifth of the message phase: a
                steady row means the server keeps up; a rising row means its queue keeps growing.
  * `errors`    error frames, messages never acked, chats dropped, chats that failed to open.
  * `server`    resident memory of the server process (peak of samples every 0.25 s over the
                whole run), its peak open file descriptors, and its CPU during the message phase
                (100% = one of the machine's cores).
  * `machine`   CPU used by other processes during the phase; "CONTENDED" means the figures
                are worse than this machine can do when it runs only the benchmark.
  * `stored`    rows in `messages` after the server stopped, compared with the acks received.

    python bench/webchat.py                          # 1,000 chats on SQLite, 30 s of messages
    python bench/webchat.py --db postgresql --clients 1000 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import queue
import random
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cpu_meter import CpuMeter
from helpdesk.storage.database import Database
from helpdesk.tickets.models import Message
from tests.support.postgres import PostgresServer
from tests.support.server import HelpdeskServer

TARGET_P99_MS = 100.0
TARGET_RSS_MB = 300.0
CONNECT_TIMEOUT = 90.0
WORDS = ["my", "order", "card", "parcel", "refund", "late", "broken", "help", "invoice", "why"]


@dataclass(frozen=True)
class Options:
    db: str
    clients: int
    workers: int
    seconds: float
    min_interval: float
    max_interval: float
    connect_concurrency: int
    drain: float
    seed: int


@dataclass
class WorkerReport:
    """What one client process saw; merged by the parent."""

    worker: int
    connected: int = 0
    connect_failures: Counter[str] = field(default_factory=Counter)
    connect_seconds: list[float] = field(default_factory=list)
    sent: int = 0
    acked: int = 0
    duplicates: int = 0
    error_frames: Counter[str] = field(default_factory=Counter)
    unacked: int = 0
    dropped: int = 0
    latencies: list[float] = field(default_factory=list)
    sent_offsets: list[float] = field(default_factory=list)
    loop_lag: list[float] = field(default_factory=list)


@dataclass
class ServerSample:
    peak_rss: int = 0
    start_rss: int = 0
    peak_fds: int = 0
    cpu_percent: float = 0.0
    connections_seen: int = 0


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--clients", type=int, default=1000, help="concurrent chats (default 1000)")
    parser.add_argument("--workers", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--seconds", type=float, default=30.0, help="message phase (default 30)")
    parser.add_argument("--min-interval", type=float, default=2.0, help="seconds between messages")
    parser.add_argument("--max-interval", type=float, default=5.0, help="seconds between messages")
    parser.add_argument(
        "--connect-concurrency", type=int, default=50, help="chats opening at once per process"
    )
    parser.add_argument("--drain", type=float, default=15.0, help="max wait for last acks")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not 1.0 <= args.min_interval <= args.max_interval:
        parser.error(
            "need 1 <= --min-interval <= --max-interval: the server allows each chat "
            "10 messages per 10 s"
        )
    return Options(
        args.db,
        args.clients,
        args.workers,
        args.seconds,
        args.min_interval,
        args.max_interval,
        args.connect_concurrency,
        args.drain,
        args.seed,
    )


def raise_open_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- one chat client ---------------------------------------------------------------------------


class Outstanding:
    """Messages of this process still waiting for an answer; `empty` is set when there are none."""

    def __init__(self) -> None:
        self.count = 0
        self.empty = asyncio.Event()
        self.empty.set()

    def add(self) -> None:
        self.count += 1
        self.empty.clear()

    def settle(self, number: int = 1) -> None:
        self.count -= number
        if self.count <= 0:
            self.empty.set()


class BenchClient:
    """One customer's chat: sends at a steady pace, a reader task matches acks to sends."""

    def __init__(self, name: str, report: WorkerReport, outstanding: Outstanding) -> None:
        self.name = name
        self.report = report
        self.outstanding = outstanding
        self.socket: ClientConnection | None = None
        # client_id -> (perf_counter at send, seconds since the message phase began)
        self.pending: dict[str, tuple[float, float]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.closed = False

    async def open(self, http: httpx.AsyncClient, ws_url: str) -> None:
        response = await http.post("/api/chat/sessions", json={"token": None})
        response.raise_for_status()
        token = response.json()["token"]
        self.socket = await websockets.connect(ws_url, open_timeout=30, max_size=2**20)
        await self.socket.send(json.dumps({"type": "hello", "token": token}))
        async with asyncio.timeout(30):
            while json.loads(await self.socket.recv())["type"] != "ready":
                pass
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.socket is not None
        try:
            async for raw in self.socket:
                self._on_frame(json.loads(raw), time.perf_counter())
        except websockets.ConnectionClosed:
            pass
        finally:
            if not self.closed:
                self.report.dropped += 1
                self.outstanding.settle(len(self.pending))
            self.closed = True

    def _on_frame(self, frame: dict[str, Any], now: float) -> None:
        if frame.get("type") == "ack":
            sent = self.pending.pop(frame.get("client_id", ""), None)
            if sent is not None:
                self.outstanding.settle()
                self.report.acked += 1
                self.report.duplicates += bool(frame.get("duplicate"))
                self.report.latencies.append(now - sent[0])
                self.report.sent_offsets.append(sent[1])
        elif frame.get("type") == "error":
            self.report.error_frames[str(frame.get("code"))] += 1
            if self.pending.pop(frame.get("client_id", ""), None) is not None:
                self.outstanding.settle()

    async def talk(self, origin: float, until: float, rng: random.Random, options: Options) -> None:
        assert self.socket is not None
        await asyncio.sleep(rng.uniform(0, options.max_interval))
        number = 0
        while time.monotonic() < until and not self.closed:
            number += 1
            client_id = f"{self.name}-{number}"
            text = " ".join(rng.choices(WORDS, k=rng.randint(3, 25)))
            frame = json.dumps({"type": "message", "client_id": client_id, "text": text})
            self.outstanding.add()
            now = time.perf_counter()
            self.pending[client_id] = (now, now - origin)
            try:
                await self.socket.send(frame)
            except websockets.ConnectionClosed:
                if self.pending.pop(client_id, None) is not None:
                    self.outstanding.settle()
                return
            self.report.sent += 1
            await asyncio.sleep(rng.uniform(options.min_interval, options.max_interval))

    async def close(self) -> None:
        self.closed = True
        if self.socket is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self.socket.close()
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)


# --- one client process ------------------------------------------------------------------------


async def open_clients(
    count: int,
    worker: int,
    urls: tuple[str, str],
    options: Options,
    report: WorkerReport,
    outstanding: Outstanding,
) -> list[BenchClient]:
    base_url, ws_url = urls
    gate = asyncio.Semaphore(options.connect_concurrency)
    limits = httpx.Limits(max_connections=options.connect_concurrency)

    async def open_one(client: BenchClient, http: httpx.AsyncClient) -> BenchClient | None:
        async with gate:
            started = time.perf_counter()
            try:
                await client.open(http, ws_url)
            except Exception as exc:
                report.connect_failures[type(exc).__name__] += 1
                await client.close()
                return None
            report.connect_seconds.append(time.perf_counter() - started)
            return client

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as http:
        candidates = [BenchClient(f"w{worker}c{n}", report, outstanding) for n in range(count)]
        opened = await asyncio.gather(*(open_one(c, http) for c in candidates))
    clients = [c for c in opened if c is not None]
    report.connected = len(clients)
    return clients


async def watch_loop_lag(report: WorkerReport, tick: float = 0.05) -> None:
    while True:
        started = time.perf_counter()
        await asyncio.sleep(tick)
        report.loop_lag.append(time.perf_counter() - started - tick)


async def drain(outstanding: Outstanding, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(outstanding.empty.wait(), seconds)


async def worker_main(
    worker: int, count: int, urls: tuple[str, str], options: Options, out: Any, go: MpEvent
) -> WorkerReport:
    report = WorkerReport(worker)
    outstanding = Outstanding()
    clients = await open_clients(count, worker, urls, options, report, outstanding)
    out.put(("connected", worker, report.connected))
    if not await asyncio.to_thread(go.wait, CONNECT_TIMEOUT * 2):
        raise RuntimeError("the parent never gave the start signal")
    rng = random.Random(options.seed * 1009 + worker)
    origin = time.perf_counter()
    until = time.monotonic() + options.seconds
    lag = asyncio.create_task(watch_loop_lag(report))
    try:
        await asyncio.gather(*(c.talk(origin, until, rng, options) for c in clients))
        await drain(outstanding, options.drain)
    finally:
        lag.cancel()
        report.unacked = sum(len(c.pending) for c in clients)
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    return report


def plain(report: WorkerReport) -> dict[str, Any]:
    """The report as plain values for the parent (not `asdict`: it would garble a Counter)."""
    values = {f.name: getattr(report, f.name) for f in fields(report)}
    return {k: dict(v) if isinstance(v, Counter) else v for k, v in values.items()}


def worker_entry(
    worker: int, count: int, urls: tuple[str, str], options: Options, out: Any, go: MpEvent
) -> None:
    """Process entry point: run the clients, hand the report (or the failure) to the parent."""
    try:
        raise_open_file_limit()
        report = asyncio.run(worker_main(worker, count, urls, options, out, go))
        out.put(("done", worker, plain(report)))
    except BaseException:
        out.put(("failed", worker, traceback.format_exc()))


# --- the parent: server, monitoring, orchestration ---------------------------------------------


class ServerMonitor:
    """Samples the server process (and any children) from a thread."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.sample = ServerSample()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._cpu_mark: tuple[float, float] | None = None

    def _processes(self) -> list[psutil.Process]:
        return [self.process, *self.process.children(recursive=True)]

    def _cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(psutil.Error):
                processes = self._processes()
                rss = sum(p.memory_info().rss for p in processes)
                fds = sum(p.num_fds() for p in processes)
                self.sample.peak_rss = max(self.sample.peak_rss, rss)
                self.sample.peak_fds = max(self.sample.peak_fds, fds)

    def start(self) -> ServerMonitor:
        self.sample.start_rss = self.process.memory_info().rss
        self._thread.start()
        return self

    def mark_cpu(self) -> None:
        self._cpu_mark = (time.monotonic(), self._cpu_seconds())

    def measure_cpu(self) -> None:
        if self._cpu_mark is not None:
            wall = time.monotonic() - self._cpu_mark[0]
            self.sample.cpu_percent = 100 * (self._cpu_seconds() - self._cpu_mark[1]) / wall

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def expect(out: Any, kind: str, workers: int, timeout: float) -> dict[int, Any]:
    """Wait for one `kind` message from every worker; a worker failure is raised at once."""
    deadline = time.monotonic() + timeout
    received: dict[int, Any] = {}
    while len(received) < workers:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"workers did not report {kind!r} within {timeout:.0f} s")
        try:
            message, worker, payload = out.get(timeout=min(remaining, 1.0))
        except queue.Empty:
            continue
        if message == "failed":
            raise RuntimeError(f"client worker {worker} failed:\n{payload}")
        if message == kind:
            received[worker] = payload
    return received


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_clients(
    server: HelpdeskServer, monitor: ServerMonitor, cpu: CpuMeter, options: Options
) -> list[dict]:
    context = mp.get_context("spawn")
    out = context.Queue()
    go = context.Event()
    urls = (server.base_url, server.ws_url)
    processes = [
        context.Process(target=worker_entry, args=(n, count, urls, options, out, go), daemon=True)
        for n, count in enumerate(split(options.clients, options.workers))
    ]
    for process in processes:
        process.start()
    try:
        started = time.monotonic()
        expect(out, "connected", options.workers, CONNECT_TIMEOUT)
        monitor.sample.connections_seen = open_chats(server)
        print(f"chats opened in {time.monotonic() - started:.1f} s; messaging ...", flush=True)
        monitor.mark_cpu()
        cpu.start()
        go.set()
        limit = options.seconds + options.drain + 30
        reports = expect(out, "done", options.workers, limit)
        monitor.measure_cpu()
        cpu.stop()
        for process in processes:
            process.join(10)
        return [reports[n] for n in sorted(reports)]
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(5)


def open_chats(server: HelpdeskServer) -> int:
    return int(httpx.get(f"{server.base_url}/api/health", timeout=10).json()["chat_connections"])


async def count_messages(url: str) -> int:
    db = Database(url)
    try:
        async with db.read() as session:
            return await session.scalar(select(func.count()).select_from(Message)) or 0
    finally:
        await db.dispose()


def postmaster_pid(server: PostgresServer) -> int:
    """The PostgreSQL server daemonises; its pid is the first line of postmaster.pid."""
    return int((server.root / "data" / "postmaster.pid").read_text().split()[0])


@contextlib.contextmanager
def database_url(database: str, data_dir: Path) -> Iterator[tuple[str, list[int]]]:
    """A fresh database and the pids of its processes (none for SQLite)."""
    if database == "sqlite":
        yield f"sqlite+aiosqlite:///{data_dir / 'helpdesk.db'}", []
        return
    postgres = PostgresServer(fsync=True)
    try:
        postgres.start()
        yield postgres.create_database("bench"), [postmaster_pid(postgres)]
    finally:
        postgres.stop()


def merge(reports: list[dict]) -> dict[str, Any]:
    merged: dict[str, Any] = {"connect_failures": Counter(), "error_frames": Counter()}
    for report in reports:
        for key, value in report.items():
            if key == "worker":
                continue
            if isinstance(value, dict):
                merged[key].update(value)
            else:
                merged[key] = merged.get(key, type(value)()) + value
    return merged


def p99_by_slice(latencies: list[float], offsets: list[float], seconds: float) -> str:
    """p99 of the messages sent in each fifth of the phase: rising figures mean a growing queue."""
    width = seconds / 5
    slices: list[list[float]] = [[] for _ in range(5)]
    for latency, offset in zip(latencies, offsets, strict=True):
        slices[min(4, int(offset / width))].append(latency * 1000)
    return " | ".join(f"{percentile(values, 0.99):.0f}" for values in slices) + " ms"


def server_log_findings(server: HelpdeskServer) -> str:
    log = server.log()
    too_many = log.lower().count("too many open files")
    errors = sum(1 for line in log.splitlines() if "error" in line.lower())
    found = f"{too_many} 'too many open files', {errors} lines mentioning 'error'"
    if errors:
        tail = [line for line in log.splitlines() if "error" in line.lower()][-5:]
        found += "\n    " + "\n    ".join(line[:160] for line in tail)
    return found


def print_report(
    m: dict[str, Any], sample: ServerSample, cpu: CpuMeter, stored: int, log: str, options: Options
) -> bool:
    ms = [v * 1000 for v in m["latencies"]]
    lag = [v * 1000 for v in m["loop_lag"]]
    connect = [v * 1000 for v in m["connect_seconds"]]
    errors = sum(m["error_frames"].values()) + m["unacked"] + m["dropped"]
    errors += sum(m["connect_failures"].values())
    p99 = percentile(ms, 0.99)
    rss_mb = sample.peak_rss / 2**20
    chats_ok = m["connected"] == options.clients
    latency_ok = chats_ok and p99 < TARGET_P99_MS and errors == 0
    memory_ok = rss_mb < TARGET_RSS_MB
    rate = m["sent"] / options.seconds
    print(
        f"\nwebchat on {options.db}: {options.clients} chats in {options.workers} client "
        f"processes, a message every {options.min_interval:g}-{options.max_interval:g} s "
        f"for {options.seconds:g} s\n"
    )
    rows = [
        ("connected clients", f"{m['connected']} / {options.clients}"),
        ("server saw open chats", f"{sample.connections_seen}"),
        (
            "chat open time",
            f"p50 {percentile(connect, 0.5):.0f} ms, p99 {percentile(connect, 0.99):.0f} ms",
        ),
        ("messages sent", f"{m['sent']} ({rate:.0f}/s)"),
        ("messages acked", f"{m['acked']} (duplicates {m['duplicates']})"),
        (
            "errors",
            f"{errors} (error frames {dict(m['error_frames'])}, unacked {m['unacked']}, "
            f"dropped chats {m['dropped']}, failed opens {dict(m['connect_failures'])})",
        ),
        (
            "latency send->ack",
            f"p50 {percentile(ms, 0.5):.1f}  p95 {percentile(ms, 0.95):.1f}  "
            f"p99 {p99:.1f}  max {percentile(ms, 1.0):.1f} ms",
        ),
        ("p99 by fifth of phase", p99_by_slice(m["latencies"], m["sent_offsets"], options.seconds)),
        (
            "client loop lag",
            f"p99 {percentile(lag, 0.99):.1f} ms, max {percentile(lag, 1.0):.1f} ms",
        ),
        (
            "server RSS",
            f"peak {rss_mb:.0f} MB (idle after start {sample.start_rss / 2**20:.0f} MB)",
        ),
        ("server open fds", f"peak {sample.peak_fds}"),
        ("server CPU", f"{sample.cpu_percent:.0f}% of one core during the message phase"),
        ("machine CPU", cpu.describe()),
        (
            "stored messages",
            f"{stored} rows vs {m['acked']} acked -> "
            f"{'OK' if stored == m['acked'] - m['duplicates'] else 'MISMATCH'}",
        ),
        ("server log", log),
    ]
    for name, value in rows:
        print(f"  {name:<22} {value}")
    print(
        f"\ntargets: {options.clients} chats with p99 < {TARGET_P99_MS:.0f} ms and no errors: "
        f"{'met' if latency_ok else 'MISSED'}; server RSS < {TARGET_RSS_MB:.0f} MB: "
        f"{'met' if memory_ok else 'MISSED'}"
    )
    return latency_ok and memory_ok


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so the cleanup in `finally` blocks runs as on Ctrl-C."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    exit_on_sigterm()
    print(f"open-file limit: {raise_open_file_limit()}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="helpdesk-bench-webchat-"))
    try:
        with database_url(options.db, root) as (url, pids):
            server = HelpdeskServer(root / "server", url)
            monitor: ServerMonitor | None = None
            cpu = CpuMeter([os.getpid(), *pids])
            try:
                server.start()
                print(f"server pid {server.process.pid} on {server.base_url}", flush=True)
                monitor = ServerMonitor(server.process.pid).start()
                reports = run_clients(server, monitor, cpu, options)
            finally:
                if monitor is not None:
                    monitor.stop()
                server.stop()
            stored = asyncio.run(count_messages(url))
            findings = server_log_findings(server)
            ok = print_report(merge(reports), monitor.sample, cpu, stored, findings, options)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
