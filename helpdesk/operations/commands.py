"""The operator's commands: backup, restore, settings-reference. `cli.py` adds them to `main`;
what they need is imported when they run, so `helpdesk --help` stays fast."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from helpdesk.cli_support import settings_or_exit as _settings


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists")
@click.option("--quiet", is_flag=True, help="No progress bar")
def backup(file: Path, force: bool, quiet: bool) -> None:
    """Write a backup of the database, secret key and attachments to FILE (.tar or .tar.gz).

    Safe while the server runs."""
    from helpdesk.operations.archive import BackupError
    from helpdesk.operations.backup import backup as run_backup

    settings = _settings()
    try:
        report = asyncio.run(run_backup(settings, file, progress=not quiet, overwrite=force))
    except (BackupError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    counts = ", ".join(f"{n} {table}" for table, n in report.manifest.counts.items())
    click.echo(
        f"backup written to {report.path}: {report.size / 1e6:.1f} MB in {report.seconds:.1f} s "
        f"(schema {report.manifest.schema_revision}; {counts})"
    )


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Replace the database, secret key and attachment files that are there",
)
@click.option("--quiet", is_flag=True, help="No progress bar")
def restore(file: Path, force: bool, quiet: bool) -> None:
    """Restore a backup made by `helpdesk backup` into an empty data dir and database.

    Stop every helpdesk process using the database first."""
    from helpdesk.operations.archive import BackupError
    from helpdesk.operations.restore import restore as run_restore

    settings = _settings()
    try:
        report = asyncio.run(run_restore(settings, file, force=force, progress=not quiet))
    except (BackupError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    counts = ", ".join(f"{n} {table}" for table, n in report.counts.items())
    click.echo(
        f"restored {file} (made {report.manifest.created_at}, schema "
        f"{report.manifest.schema_revision}) in {report.seconds:.1f} s: {counts}; "
        f"{report.files} files in the data dir. `helpdesk serve` upgrades the schema if needed."
    )


@click.command("settings-reference")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("docs/settings.md"),
    show_default=True,
    help="Where to write it; - for standard output",
)
def settings_reference(output: Path) -> None:
    """Write the reference of every setting, generated from the Settings model."""
    from helpdesk.operations.reference import render

    text = render()
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"settings reference written to {output}")


def register(group: click.Group) -> None:
    for command in (backup, restore, settings_reference):
        group.add_command(command)
