"""`helpdesk customers ...`: import and export customers as CSV files.

The shell of the server's host is the admin's: like `helpdesk agent`, these commands need no
login, and an import is trusted data (its email addresses are proven identities)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from tqdm import tqdm

from helpdesk.cli_support import check_storage, run, settings_or_exit
from helpdesk.customers.transfer import DEFAULT_BATCH_ROWS

if TYPE_CHECKING:
    from helpdesk.customers.transfer.importer import ImportReport

# Rejected rows printed on the terminal; the rest are in --rejects.
SHOWN_REJECTS = 20


@click.group()
def customers() -> None:
    """Manage customers: import and export CSV files, recompute their tiers, export or erase
    everything stored about one."""


@customers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "pairs",
    multiple=True,
    metavar="'HEADER=COLUMN'",
    help="Read the file's column HEADER as COLUMN (or '-' to leave it out); repeatable",
)
@click.option(
    "--mapping",
    "mapping_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of HEADER=COLUMN lines, as --map",
)
@click.option("--ignore-unknown", is_flag=True, help="Leave out columns the import does not know")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rejected rows to this CSV file, with their row number and reason",
)
@click.option("--encoding", help="The file's encoding (default: UTF-8, with or without a BOM)")
@click.option("--delimiter", help="The cell separator (default: guessed from the header)")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 50_000),
    default=DEFAULT_BATCH_ROWS,
    show_default=True,
    help="Rows written per transaction",
)
@click.option("--quiet", is_flag=True, help="No progress bar")
def customers_import(
    file: Path,
    pairs: tuple[str, ...],
    mapping_files: tuple[Path, ...],
    ignore_unknown: bool,
    dry_run: bool,
    rejects: Path | None,
    encoding: str | None,
    delimiter: str | None,
    batch_size: int,
    quiet: bool,
) -> None:
    """Import customers from FILE.csv; importing the same file again changes nothing.

    Columns: external_ref, name, email, phone, language, account, account_ref, value,
    tier_override, manager. A row is matched by external_ref, else by email."""
    from helpdesk.common.clock import SystemClock
    from helpdesk.customers.transfer.columns import Columns, ColumnsRefused, read_mapping
    from helpdesk.customers.transfer.importer import import_customers
    from helpdesk.customers.transfer.source import FileRefused, open_source
    from helpdesk.storage.database import Database

    settings = settings_or_exit()
    try:
        source = open_source(file, encoding, delimiter)
        columns = Columns.from_header(
            source.header,
            read_mapping(pairs, mapping_files),
            tier_names=settings.customers.tier_names,
            ignore_unknown=ignore_unknown,
        )
    except (FileRefused, ColumnsRefused) as exc:
        raise click.ClickException(f"{exc}; nothing was imported") from None
    if columns.ignored:
        click.echo(f"columns left out: {', '.join(columns.ignored)}", err=True)
    check_storage(settings)

    async def go() -> ImportReport:
        db = Database(settings.database_url)
        bar = tqdm(total=source.rows, unit="row", disable=True if quiet else None, file=sys.stderr)
        try:
            await db.migrate()
            return await import_customers(
                db,
                source,
                columns,
                now=SystemClock().now(),
                dry_run=dry_run,
                batch_rows=batch_size,
                progress=bar.update,
            )
        finally:
            bar.close()
            await db.dispose()

    report = run(go)
    _print_report(report, dry_run)
    if rejects is not None:
        _write_rejects(rejects, source.header, report)
        click.echo(f"rejected rows written to {rejects}")
    if report.rejected:
        sys.exit(1)


def _print_report(report: ImportReport, dry_run: bool) -> None:
    for rejected in report.rejected[:SHOWN_REJECTS]:
        click.echo(f"row {rejected.number}: {rejected.reason}", err=True)
    hidden = len(report.rejected) - SHOWN_REJECTS
    if hidden > 0:
        click.echo(f"... and {hidden} more rejected rows (see --rejects)", err=True)
    would = "dry run, nothing written: would be " if dry_run else ""
    click.echo(
        f"{report.rows} rows: {would}{report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected; "
        f"{report.accounts_created} accounts created"
    )


def _write_rejects(path: Path, header: list[str], report: ImportReport) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "reason", *header])
        for rejected in report.rejected:
            writer.writerow([rejected.number, rejected.reason, *rejected.cells])


@customers.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--quiet", is_flag=True, help="No progress bar")
def customers_export(file: Path, quiet: bool) -> None:
    """Write every customer to FILE.csv, in the columns `customers import` reads."""
    from helpdesk.customers.transfer.exporter import ExportReport, export_customers
    from helpdesk.storage.database import Database

    settings = settings_or_exit()
    check_storage(settings)

    async def go() -> ExportReport:
        db = Database(settings.database_url)
        bar = tqdm(unit="customer", disable=True if quiet else None, file=sys.stderr)

        def total(count: int) -> None:
            bar.total = count
            bar.refresh()

        try:
            await db.migrate()
            return await export_customers(db, file, progress=bar.update, total=total)
        finally:
            bar.close()
            await db.dispose()

    try:
        report = run(go)
    except OSError as exc:  # pragma: no cover - the folder vanished or is read-only
        raise click.ClickException(f"cannot write {file}: {exc}") from None
    click.echo(f"{report.written} customers written to {file}")
    if report.anonymous:
        click.echo(
            f"{report.anonymous} customers with neither external_ref nor email (anonymous chat "
            "visitors) were left out: an import could not match them"
        )
