"""Commands: serve, demo, migrate, agent (cli_agents.py), kb import/export."""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import click

from helpdesk.cli_agents import agent
from helpdesk.cli_support import (
    check_storage,
    database_location,
    run,
    settings_or_exit,
)
from helpdesk.cli_tiers import tiers
from helpdesk.config import Settings
from helpdesk.operations.commands import register as _register_operations


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@click.group()
@click.version_option(package_name="helpdesk")
def main() -> None:
    """helpdesk: the self-hosted omnichannel helpdesk."""


@main.command()
@click.option("--host", help="Address to listen on [HELPDESK_HOST]")
@click.option("--port", type=int, help="Port to listen on [HELPDESK_PORT]")
def serve(host: str | None, port: int | None) -> None:
    """Run the web server and every background worker in one process."""
    settings = settings_or_exit(host=host, port=port)
    _serve(settings)


@main.command()
@click.option("--host", help="Address to listen on [HELPDESK_HOST]")
@click.option("--port", type=int, help="Port to listen on [HELPDESK_PORT]")
def demo(host: str | None, port: int | None) -> None:
    """Serve with demo data: teams, a supervisor, agents, customers, tickets, articles."""
    from helpdesk.demo import DEMO_PASSWORD, DEMO_PEOPLE, seed_demo
    from helpdesk.runtime import Runtime

    settings = settings_or_exit(host=host, port=port, demo=True)
    check_storage(settings)

    async def seed() -> bool:
        from helpdesk.startup import prepare_to_serve

        await prepare_to_serve(settings)  # migrates, and chooses the key the runtime needs
        runtime = Runtime(settings)
        try:
            return await seed_demo(runtime)
        finally:
            await runtime.db.dispose()

    seeded = run(seed)
    url = settings.public_url
    click.echo(f"\nhelpdesk demo {'seeded' if seeded else '(data already there)'}\n")
    click.echo(f"  customer web chat   {url}/chat")
    click.echo(f"  agent API and docs  {url}/docs")
    click.echo(f"  health              {url}/api/health\n")
    click.echo(f"  logins (password: {DEMO_PASSWORD})")
    for email, name, role, teams in DEMO_PEOPLE:
        click.echo(f"    {email:24} {role.value:10} {', '.join(teams)}  ({name})")
    click.echo("")
    _serve(settings)


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema to this version."""
    from helpdesk.storage.database import Database

    settings = settings_or_exit()
    check_storage(settings)

    async def upgrade() -> None:
        db = Database(settings.database_url)
        try:
            await db.migrate()
        finally:
            await db.dispose()

    run(upgrade)
    click.echo(f"database is up to date: {database_location(settings)}")


main.add_command(agent)


@main.group()
def customers() -> None:
    """Manage customers: their tiers."""


customers.add_command(tiers)


# ---- knowledge base (issue 5) ----


@main.group()
def kb() -> None:
    """Manage the knowledge base."""


@kb.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--quiet", is_flag=True, help="No progress bar")
def kb_import(folder: Path, quiet: bool) -> None:
    """Import Markdown articles (YAML front matter) from FOLDER; updates articles by slug."""
    from helpdesk.common.clock import SystemClock
    from helpdesk.kb.files import import_folder
    from helpdesk.storage.database import Database

    settings = settings_or_exit()
    check_storage(settings)

    async def load() -> Any:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            return await import_folder(db, folder, SystemClock(), progress=not quiet)
        finally:
            await db.dispose()

    report = run(load)
    for name, reason in report.errors:
        click.echo(f"skipped {name}: {reason}", err=True)
    click.echo(
        f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{len(report.errors)} skipped"
    )
    if report.errors:
        sys.exit(1)


@kb.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def kb_export(folder: Path) -> None:
    """Write every article to FOLDER as SLUG.md; `kb import` reads them back unchanged."""
    from helpdesk.kb.files import export_folder
    from helpdesk.storage.database import Database

    settings = settings_or_exit()
    check_storage(settings)

    async def write() -> int:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            return await export_folder(db, folder)
        finally:
            await db.dispose()

    click.echo(f"{run(write)} articles written to {folder}")


# ---- operations (issue 18): backup, restore, settings-reference ----
_register_operations(main)


def _serve(settings: Settings) -> None:
    import uvicorn

    from helpdesk.operations.logs import configure as configure_logging
    from helpdesk.operations.shutdown import GracefulServer
    from helpdesk.runtime import Runtime, tune_garbage_collector
    from helpdesk.startup import prepare_to_serve
    from helpdesk.web.app import create_app
    from helpdesk.web.protection.connections import ConnectionGuard, guarded_protocols
    from helpdesk.web.protection.open_files import connection_budget, raise_open_file_limit

    operations = settings.operations
    log_config = configure_logging(
        settings.log_level, operations.log_format, operations.trace_messages
    )
    _check_port_free(settings)
    check_storage(settings)
    for line in run(lambda: prepare_to_serve(settings)):
        click.echo(line, err=True)
    runtime = Runtime(settings)
    protection = settings.protection
    open_files = raise_open_file_limit(protection.open_file_limit)
    guard = ConnectionGuard(
        protection.max_connections_per_address,
        protection.max_connections or connection_budget(open_files),
    )
    http, ws = guarded_protocols(guard, protection.header_timeout_seconds)
    budget = operations.shutdown_seconds
    config = uvicorn.Config(
        create_app(runtime, drain_seconds=budget / 4),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http=http,
        ws=ws,
        log_config=log_config,
        ws_max_size=settings.webchat.max_frame_bytes,
        # X-Forwarded-For is believed only from the proxies the operator names.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
        # Half the budget for requests in progress, a quarter for intake's batches.
        timeout_graceful_shutdown=max(1, int(budget / 2)),
        lifespan="on",
    )
    server = GracefulServer(config, runtime, budget)
    tune_garbage_collector()
    server.run()
    server.cancel_watchdog()
    if not server.started:
        sys.exit(1)


def _check_port_free(settings: Settings) -> None:
    probe = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    try:
        if os.name != "nt":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((settings.host, settings.port))
    except OSError as exc:
        raise click.ClickException(
            f"HELPDESK_PORT / HELPDESK_HOST: cannot listen on {settings.host}:{settings.port}: "
            f"{exc.strerror}"
        ) from None
    finally:
        probe.close()
