"""Importing a customers file: rows checked, planned and written in batches.

Each batch is planned and written in one transaction. A row is rejected whole, before its
batch is written; should the database still refuse a batch (another process took an address
meanwhile), the batch is written again one row at a time, so one bad row never costs the good
ones. A dry run plans every batch exactly the same way and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from helpdesk.customers.transfer import DEFAULT_BATCH_ROWS
from helpdesk.customers.transfer.columns import Columns, ParsedRow, RowRejected
from helpdesk.customers.transfer.planning import Context, Plan, plan_batch
from helpdesk.customers.transfer.references import AccountBook, Managers
from helpdesk.customers.transfer.source import Source
from helpdesk.customers.transfer.writes import write_plan
from helpdesk.storage.database import Database


@dataclass(frozen=True, slots=True)
class Rejected:
    number: int
    cells: list[str]
    reason: str


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    accounts_created: int = 0
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(slots=True)
class _Run:
    db: Database
    context: Context
    report: ImportReport
    now: datetime
    label: str
    dry_run: bool
    analyzed_at: int = 0

    async def flush(self, batch: list[ParsedRow]) -> None:
        if not batch:
            return
        await self._statistics()
        if self.dry_run:
            async with self.db.read() as session:
                self._count(await plan_batch(session, batch, self.context))
            return
        try:
            self._count(await self._write(batch))
        except DBAPIError:
            # Everything of the batch was rolled back, accounts too: read them again.
            await self._reload_accounts()
            for row in batch:
                try:
                    self._count(await self._write([row]))
                except DBAPIError as exc:
                    await self._reload_accounts()
                    reason = f"the database refused the row: {str(exc.orig)[:300]}"
                    self.report.rejected.append(Rejected(row.number, row.cells, reason))

    async def _write(self, batch: list[ParsedRow]) -> Plan:
        async with self.db.transaction() as session:
            plan = await plan_batch(session, batch, self.context)
            await write_plan(
                await session.connection(), plan, self.context.accounts, self.now, self.label
            )
        return plan

    def _count(self, plan: Plan) -> None:
        accounts = self.context.accounts
        self.report.accounts_created += sum(entry.new for entry in accounts.dirty)
        for entry in accounts.dirty:
            entry.new = entry.ref_added = False
        accounts.dirty.clear()
        self.context.touched.update(plan.touched)
        for change in plan.changes:
            setattr(self.report, change.outcome, getattr(self.report, change.outcome) + 1)
        for row, reason in plan.rejects:
            self.report.rejected.append(Rejected(row.number, row.cells, reason))

    async def _statistics(self) -> None:
        """PostgreSQL plans from statistics its autovacuum gathers about once a minute: while
        an import doubles a table they say it is nearly empty, and the batch lookups scan
        every stored address instead of probing the index (seconds per batch). ANALYZE
        whenever the import has doubled what the last one saw: a handful of times at most."""
        if self.db.is_sqlite or self.dry_run:
            return
        written = self.report.created
        if written < self.analyzed_at * 2 and self.analyzed_at:
            return
        async with self.db.engine.connect() as connection:
            await connection.execute(text("ANALYZE customers, identities"))
            await connection.commit()
        self.analyzed_at = max(written, 1_000)

    async def _reload_accounts(self) -> None:
        async with self.db.read() as session:
            self.context.accounts = await AccountBook.load(session)


async def import_customers(
    db: Database,
    source: Source,
    columns: Columns,
    *,
    now: datetime,
    dry_run: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Callable[[int], object] | None = None,
) -> ImportReport:
    """Import every row of `source`; returns the counts and the rejected rows, in file order."""
    async with db.read() as session:
        context = Context(await AccountBook.load(session), await Managers.load(session))
    report = ImportReport()
    run = _Run(db, context, report, now, source.path.name, dry_run)
    first_row_of: dict[tuple[str, str], int] = {}
    batch: list[ParsedRow] = []
    pending = 0
    for number, cells in source.records():
        report.rows += 1
        pending += 1
        try:
            parsed = columns.parse(number, cells)
            _first_in_file(parsed, first_row_of)
        except RowRejected as exc:
            report.rejected.append(Rejected(number, cells, str(exc)))
        else:
            batch.append(parsed)
        if len(batch) >= batch_rows:
            await run.flush(batch)
            batch = []
            if progress is not None:
                progress(pending)
                pending = 0
    await run.flush(batch)
    if progress is not None and pending:
        progress(pending)
    report.rejected.sort(key=lambda rejected: rejected.number)
    return report


def _first_in_file(row: ParsedRow, first_row_of: dict[tuple[str, str], int]) -> None:
    """A customer appears once in a file: a second row with the same external_ref or email is
    rejected, naming the first (which is imported)."""
    keys = [("external_ref", row.external_ref), ("email", row.email)]
    for column, value in keys:
        if value is not None and (column, value) in first_row_of:
            raise RowRejected(f"{column} {value} is also on row {first_row_of[column, value]}")
    for column, value in keys:
        if value is not None:
            first_row_of[column, value] = row.number
