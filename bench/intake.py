"""Intake throughput and latency, in-process, on SQLite and PostgreSQL.

What is measured: the real intake path (`Runtime.intake.receive`, which returns only after the
message is committed) driven by many concurrent producer tasks in this process. Each producer
sends one message at a time (closed loop) from a random customer out of a fixed pool, so the first
message of a customer opens a ticket and later ones continue it.

How to read it:
  * `msg/s`       closed loop: messages acknowledged per second during the measured window (after
                  warm-up). Open loop (--rate): messages that arrived in the window and were all
                  acknowledged, per second of their actual arrival span (so a producer that falls
                  behind its schedule shows a lower rate).
  * `p50/p99/max` time from the call to `receive()` until it returned (i.e. committed), in ms.
  * `new tkt`     how many acknowledged messages in the window opened a ticket.
  * `peak RSS`    the largest resident memory of this whole process seen while that database ran
                  (producers, runtime and drivers together; PostgreSQL itself is not included).
  * The check line compares rows in `messages` with acknowledged `receive()` calls (must match).
  * The cpu line shows CPU taken by other processes during the window; "CONTENDED" means
    the figures are worse than this machine can do when it runs only the benchmark.

Since producers run on the same event loop and cores as intake, the figures are a lower bound for
what intake alone can do. PostgreSQL runs with fsync and synchronous_commit on.

    python bench/intake.py                      # saturation: both databases, 10 s each
    python bench/intake.py --rate 1500          # the target: 1,500 msg/s arriving steadily
    python bench/intake.py --db sqlite --seconds 20 --producers 128
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import uvloop
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cpu_meter import CpuMeter
from helpdesk.config import load_settings
from helpdesk.customers.models import Customer
from helpdesk.intake.service import IntakeError
from helpdesk.messages import InboundMessage
from helpdesk.runtime import Runtime, tune_garbage_collector
from helpdesk.storage.event_log import StoredEvent
from helpdesk.tickets.models import Message, Ticket
from tests.support.postgres import PostgresServer

SECRET = "bench-secret-key-that-is-long-enough-0123456789"
CHANNEL = "webchat"
TARGET_RATE = 1500.0
TARGET_P99_MS = 50.0
WORDS = ["my", "order", "card", "parcel", "refund", "late", "broken", "help", "invoice", "why"]


@dataclass
class Options:
    databases: list[str]
    seconds: float
    warmup: float
    producers: int
    customers: int
    seed: int
    analyze: bool
    rate: float | None


@dataclass
class Tally:
    """What the producers saw. Closed loop: `window_*` counts calls that returned inside the
    window. Open loop: calls made inside the window, however late they returned."""

    measuring: bool = False
    stopping: bool = False
    acked: int = 0
    errors: int = 0
    window_acked: int = 0
    window_new_tickets: int = 0
    window_errors: int = 0
    open_loop: bool = False
    first_arrival: float | None = None
    last_arrival: float = 0.0
    latencies: list[float] = field(default_factory=list)
    peak_rss: int = 0


@dataclass
class Result:
    database: str
    seconds: float
    tally: Tally
    stored_messages: int
    logged_events: int
    tickets: int
    customers: int
    cpu: CpuMeter

    @property
    def rate(self) -> float:
        tally = self.tally
        if tally.open_loop and tally.first_arrival is not None:
            # n arrivals span n - 1 intervals.
            span = tally.last_arrival - tally.first_arrival
            arrived = tally.window_acked + tally.window_errors
            return (tally.window_acked - 1) / span if span > 0 and arrived else 0.0
        return tally.window_acked / self.seconds

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.tally.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    @property
    def met(self) -> bool:
        # Compared as printed: arrival jitter of a fraction of a message must not decide it.
        fast = round(self.rate) >= TARGET_RATE and self.percentile_ms(0.99) < TARGET_P99_MS
        return fast and self.tally.window_errors == 0


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured warm-up (default 2)")
    parser.add_argument("--producers", type=int, default=64, help="concurrent producer tasks")
    parser.add_argument("--customers", type=int, default=2000, help="distinct senders")
    parser.add_argument("--seed", type=int, default=1, help="random seed for senders and texts")
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="PostgreSQL: run ANALYZE after the warm-up, as autovacuum would on a database that\n"
        "has been running a while (the fresh database otherwise has no statistics)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="open loop: messages arrive at this steady rate (per second) whatever the latency,\n"
        "as customers do; without it, --producers send as fast as intake answers (saturation)",
    )
    args = parser.parse_args(argv)
    databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    return Options(
        databases,
        args.seconds,
        args.warmup,
        args.producers,
        args.customers,
        args.seed,
        args.analyze,
        args.rate,
    )


def message_for(rng: random.Random, producer: int, sequence: int, customers: int) -> InboundMessage:
    customer = rng.randrange(customers)
    return InboundMessage(
        channel=CHANNEL,
        external_id=f"bench-{producer}-{sequence}",
        sender=f"visitor-{customer:05d}",
        sender_name=f"Customer {customer}",
        text=" ".join(rng.choices(WORDS, k=rng.randint(4, 30))),
    )


async def send_one(runtime: Runtime, tally: Tally, inbound: InboundMessage) -> None:
    measured = tally.measuring
    started = time.perf_counter()
    if measured and tally.open_loop:
        if tally.first_arrival is None:
            tally.first_arrival = started
        tally.last_arrival = started
    try:
        receipt = await runtime.intake.receive(inbound)
    except IntakeError:
        tally.errors += 1
        tally.window_errors += measured
        return
    elapsed = time.perf_counter() - started
    tally.acked += 1
    if measured and (tally.measuring or tally.open_loop):
        tally.window_acked += 1
        tally.window_new_tickets += receipt.new_ticket
        tally.latencies.append(elapsed)


async def produce(runtime: Runtime, tally: Tally, producer: int, options: Options) -> None:
    """Closed loop: the next message goes as soon as the previous one is acknowledged."""
    rng = random.Random(options.seed * 100_003 + producer)
    sequence = 0
    while not tally.stopping:
        sequence += 1
        await send_one(runtime, tally, message_for(rng, producer, sequence, options.customers))


async def arrive_at_rate(runtime: Runtime, tally: Tally, options: Options) -> None:
    """Open loop: messages arrive on a fixed schedule, however long earlier ones take."""
    assert options.rate
    rng = random.Random(options.seed)
    # Prepared beforehand (with a margin for the stop), so that the producer's own work on the
    # shared core is only the arrival, as a channel's would be.
    planned = int(options.rate * (options.warmup + options.seconds + 5))
    prepared = [message_for(rng, 0, n, options.customers) for n in range(planned)]
    interval = 1.0 / options.rate
    in_flight: set[asyncio.Task[None]] = set()
    next_at = time.perf_counter()
    sequence = 0
    while not tally.stopping:
        if sequence < planned:
            inbound = prepared[sequence]
        else:
            inbound = message_for(rng, 0, sequence, options.customers)
        sequence += 1
        task = asyncio.create_task(send_one(runtime, tally, inbound))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    await asyncio.gather(*in_flight)


async def sample_rss(tally: Tally, interval: float = 0.2) -> None:
    process = psutil.Process()
    while True:
        tally.peak_rss = max(tally.peak_rss, process.memory_info().rss)
        await asyncio.sleep(interval)


async def drive(runtime: Runtime, options: Options, cpu: CpuMeter) -> tuple[Tally, float]:
    """Run the producers through warm-up and the window; returns the tally and window length."""
    tally = Tally(open_loop=options.rate is not None)
    sampler = asyncio.create_task(sample_rss(tally))
    if options.rate:
        producers = [asyncio.create_task(arrive_at_rate(runtime, tally, options))]
    else:
        producers = [
            asyncio.create_task(produce(runtime, tally, n, options))
            for n in range(options.producers)
        ]
    try:
        await asyncio.sleep(options.warmup)
        if options.analyze and not runtime.db.is_sqlite:
            async with runtime.db.engine.begin() as connection:
                await connection.execute(text("ANALYZE"))
        tally.measuring = True
        cpu.start()
        started = time.perf_counter()
        await asyncio.sleep(options.seconds)
        tally.measuring = False
        window = time.perf_counter() - started
        cpu.stop()
        tally.stopping = True
        # Every producer finishes its call in flight, so each acknowledgement is counted.
        async with asyncio.timeout(60):
            await asyncio.gather(*producers)
    finally:
        for task in [*producers, sampler]:
            task.cancel()
        await asyncio.gather(*producers, sampler, return_exceptions=True)
    return tally, window


async def count_rows(runtime: Runtime) -> tuple[int, int, int, int]:
    async with runtime.db.read() as session:
        messages = await session.scalar(select(func.count()).select_from(Message))
        tickets = await session.scalar(select(func.count()).select_from(Ticket))
        customers = await session.scalar(select(func.count()).select_from(Customer))
        # Written by intake in each message's own transaction (the durable event log).
        logged = await session.scalar(
            select(func.count()).where(StoredEvent.type == "MessageReceived")
        )
    return messages or 0, tickets or 0, customers or 0, logged or 0


async def run_once(
    database: str, url: str, data_dir: Path, options: Options, cpu: CpuMeter
) -> Result:
    settings = load_settings(data_dir=data_dir, database_url=url, secret_key=SECRET)
    runtime = Runtime(settings)
    loop = asyncio.get_running_loop()
    # SIGTERM cancels the run, so the runtime still stops cleanly before the loop closes.
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await runtime.start()
        tune_garbage_collector()  # as `helpdesk serve` does
        try:
            tally, window = await drive(runtime, options, cpu)
            messages, tickets, customers, logged = await count_rows(runtime)
        finally:
            await runtime.stop()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        exit_on_sigterm()
    return Result(database, window, tally, messages, logged, tickets, customers, cpu)


def postmaster_pid(server: PostgresServer) -> int:
    """The PostgreSQL server daemonises; its pid is the first line of postmaster.pid."""
    return int((server.root / "data" / "postmaster.pid").read_text().split()[0])


@contextlib.contextmanager
def database_url(database: str, data_dir: Path) -> Iterator[tuple[str, list[int]]]:
    """A fresh, empty database and the pids of its processes (none for SQLite); a PostgreSQL
    server (fsync on) lives only inside the block."""
    if database == "sqlite":
        yield f"sqlite+aiosqlite:///{data_dir / 'helpdesk.db'}", []
        return
    server = PostgresServer(fsync=True)
    try:
        server.start()
        yield server.create_database("bench"), [postmaster_pid(server)]
    finally:
        server.stop()


def bench_database(database: str, options: Options) -> Result:
    data_dir = Path(tempfile.mkdtemp(prefix=f"helpdesk-bench-{database}-"))
    try:
        with database_url(database, data_dir) as (url, pids):
            cpu = CpuMeter([os.getpid(), *pids])
            # The same event loop as `helpdesk serve` (uvicorn picks uvloop when installed).
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(run_once(database, url, data_dir, options, cpu))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def print_results(results: list[Result], options: Options) -> None:
    analyzed = ", ANALYZE after warm-up" if options.analyze else ""
    load = (
        f"open loop at {options.rate:g} msg/s"
        if options.rate
        else f"{options.producers} closed-loop producers"
    )
    print(
        f"\nintake: {load}, {options.customers} customers, "
        f"{options.warmup:g} s warm-up{analyzed}, {options.seconds:g} s measured\n"
    )
    header = (
        f"{'database':<11}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'acked':>9}{'new tkt':>9}{'errors':>8}{'peak RSS':>11}  target"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.database:<11}{r.rate:>9.0f}{r.percentile_ms(0.5):>9.1f}"
            f"{r.percentile_ms(0.99):>9.1f}{r.percentile_ms(1.0):>9.1f}"
            f"{r.tally.window_acked:>9}{r.tally.window_new_tickets:>9}{r.tally.window_errors:>8}"
            f"{r.tally.peak_rss / 2**20:>8.0f} MB  {'met' if r.met else 'MISSED'}"
        )
    print(f"\ntargets: >= {TARGET_RATE:.0f} msg/s with p99 < {TARGET_P99_MS:.0f} ms per database")
    for r in results:
        same = r.stored_messages == r.tally.acked
        print(
            f"check {r.database}: {r.stored_messages} messages stored, {r.tally.acked} receive() "
            f"acknowledged, {r.tally.errors} failed -> {'OK' if same else 'MISMATCH'} "
            f"({r.tickets} tickets, {r.customers} customers; {r.logged_events} MessageReceived "
            f"events in the log)"
        )
    for r in results:
        print(f"cpu {r.database}: {r.cpu.describe()}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS (getrusage, whole run): {peak:.0f} MB")


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so the cleanup in `finally` blocks runs as on Ctrl-C."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    exit_on_sigterm()
    results = []
    for database in options.databases:
        print(f"running {database} ...", flush=True)
        try:
            results.append(bench_database(database, options))
        except asyncio.CancelledError:
            print("stopped by SIGTERM; cleaned up", file=sys.stderr)
            return 143
    print_results(results, options)
    ok = all(r.stored_messages == r.tally.acked for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
