"""Customers (issue 16), on SQLite and PostgreSQL, one part at a time.

Parts (`--part`, repeatable; all by default):

  * `import`  a 100,000-row customers file (`--customers`) generated in a temporary folder:
              reference, name, email, phone, language, one of 1,000 accounts, a value, a tier
              override on one row in fifty, a relationship manager on one row in ten. Measured:
              the first import into an empty database, then the same file again (every row
              "unchanged"), each from opening the file to the last commit, with this
              process's CPU time beside it (SQLite's work included; PostgreSQL's not).
              Target: the first import under 60 s on SQLite.

  * `reports` the reports over 1,000,000 messages (`bench/customer_reports.py`, its own options:
              `--messages`, `--runs`, `--group-by`, `--explain`). Target: each under 2 s on
              PostgreSQL.

Tier recomputation for 100,000 customers has its own script: `bench/customer_tiers.py`.

The machine may be shared: figures taken beside other work are worse than the code can do.

    python bench/customers.py                                  # every part, both databases
    python bench/customers.py --part import --db sqlite --customers 20000
    python bench/customers.py --part reports --db postgresql --explain
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import customer_reports
from bench.databases import database_url
from helpdesk.customers.transfer.columns import FIELDS, Columns
from helpdesk.customers.transfer.importer import import_customers
from helpdesk.customers.transfer.source import open_source
from helpdesk.staff.accounts import add_agent
from helpdesk.storage.database import Database

MANAGERS = ("mia@example.test", "noah@example.test", "olga@example.test")
LANGUAGES = ("en", "de", "fr", "pt-BR", "es")


# ---- part: import ----


def write_customers_file(path: Path, count: int) -> None:
    rng = random.Random(16)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for n in range(count):
            writer.writerow(
                [
                    f"CRM-{n:07d}",
                    f"Customer {n}",
                    f"customer{n}@example.test",
                    f"+4420{n:08d}",
                    rng.choice(LANGUAGES),
                    f"Account {n % 1000}",
                    "",
                    f"{rng.paretovariate(1.16) * 100:.2f}",
                    "key" if n % 50 == 0 else "",
                    MANAGERS[n % 3] if n % 10 == 0 else "",
                ]
            )


async def import_part(url: str, options: argparse.Namespace, work: Path) -> list[str]:
    file = work / "customers.csv"
    started = time.perf_counter()
    write_customers_file(file, options.customers)
    generated = time.perf_counter() - started
    db = Database(url)
    try:
        await db.migrate()
        async with db.transaction() as session:
            for email in MANAGERS:
                await add_agent(
                    session, email=email, name=email, password="bench-password", now=_now()
                )
        lines = [f"  generated {options.customers:,} rows in {generated:.1f} s"]
        for label in ("first import", "same file again"):
            started, cpu = time.perf_counter(), time.process_time()
            source = open_source(file, None, None)
            columns = Columns.from_header(
                source.header, {}, tier_names=["key", "standard"], ignore_unknown=False
            )
            report = await import_customers(db, source, columns, now=_now())
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            lines.append(
                f"  {label:<16}{seconds:>8.1f} s{report.rows / seconds:>10,.0f} rows/s"
                f"  (this process's CPU {cpu:.1f} s)   "
                f"created {report.created:,}, updated {report.updated:,}, "
                f"unchanged {report.unchanged:,}, rejected {len(report.rejected):,}"
            )
        return lines
    finally:
        await db.dispose()


def _now() -> datetime:
    return datetime.now(UTC)


PARTS: dict[str, Callable[[str, argparse.Namespace, Path], Awaitable[list[str]]]] = {
    "import": import_part,
}


# Parts that set up their own databases and read their own options.
OWN_OPTIONS = {"reports": (customer_reports.add_arguments, customer_reports.reports)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--part", choices=sorted([*PARTS, *OWN_OPTIONS]), action="append")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--customers", type=int, default=100_000)
    options, rest = parser.parse_known_args(argv)
    chosen = options.part or [*PARTS, *OWN_OPTIONS]
    for name, (add_arguments, run_part) in OWN_OPTIONS.items():
        if name in chosen:
            own = argparse.ArgumentParser(prog=f"customers.py --part {name}")
            add_arguments(own)
            if run_part(own.parse_args([*rest, "--db", options.db])) != 0:
                return 1
    parts = [part for part in chosen if part in PARTS]
    if not parts:
        return 0
    databases = ["sqlite", "postgresql"] if options.db == "both" else [options.db]
    output: list[str] = []
    for part in parts:
        for database in databases:
            work = Path(tempfile.mkdtemp(prefix=f"helpdesk-bench-customers-{database}-"))
            try:
                with database_url(database, work) as url:
                    lines = asyncio.run(PARTS[part](url, options, work))
            finally:
                shutil.rmtree(work, ignore_errors=True)
            output += [f"{part} on {database}:", *lines]
            print("\n".join(output[-len(lines) - 1 :]), flush=True)
    print("\n" + "\n".join(output))
    print("figures on a shared machine are worse than on a quiet one")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
