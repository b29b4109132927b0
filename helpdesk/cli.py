"""Commands: serve, demo, migrate, agent add, kb import/export."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from helpdesk.config import ConfigError, Settings, load_settings
from helpdesk.operations.commands import register as _register_operations

T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(factory())
    except OSError as exc:
        raise click.ClickException(f"cannot reach storage: {exc}") from None


@click.group()
@click.version_option(package_name="helpdesk")
def main() -> None:
    """helpdesk: the self-hosted omnichannel helpdesk."""


@main.command()
@click.option("--host", help="Address to listen on [HELPDESK_HOST]")
@click.option("--port", type=int, help="Port to listen on [HELPDESK_PORT]")
def serve(host: str | None, port: int | None) -> None:
    """Run the web server and every background worker in one process."""
    settings = _settings(host=host, port=port)
    _serve(settings)


@main.command()
@click.option("--host", help="Address to listen on [HELPDESK_HOST]")
@click.option("--port", type=int, help="Port to listen on [HELPDESK_PORT]")
def demo(host: str | None, port: int | None) -> None:
    """Serve with demo data: teams, a supervisor, agents, customers, tickets, articles."""
    from helpdesk.demo import DEMO_PASSWORD, DEMO_PEOPLE, seed_demo
    from helpdesk.runtime import Runtime

    settings = _settings(host=host, port=port)

    async def seed() -> bool:
        runtime = Runtime(settings)
        await runtime.db.migrate()
        try:
            return await seed_demo(runtime)
        finally:
            await runtime.db.dispose()

    seeded = _run(seed)
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

    settings = _settings()

    async def upgrade() -> None:
        db = Database(settings.database_url)
        try:
            await db.migrate()
        finally:
            await db.dispose()

    _run(upgrade)
    click.echo("database is up to date")


@main.group()
def agent() -> None:
    """Manage agents."""


@agent.command("add")
@click.argument("email")
@click.option("--name", default="", help="Display name")
@click.option(
    "--role",
    type=click.Choice(["agent", "supervisor", "admin"]),
    default="agent",
    show_default=True,
)
@click.option("--team", "teams", multiple=True, help="Team name (created if new); repeatable")
@click.option(
    "--password",
    envvar="HELPDESK_AGENT_PASSWORD",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for when not given [HELPDESK_AGENT_PASSWORD]",
)
def agent_add(email: str, name: str, role: str, teams: tuple[str, ...], password: str) -> None:
    """Add an agent who can log in to the API and workspace."""
    from helpdesk.common.clock import SystemClock
    from helpdesk.staff.accounts import AccountError, add_agent
    from helpdesk.staff.models import Role
    from helpdesk.storage.database import Database

    settings = _settings()

    async def add() -> tuple[int, str]:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            async with db.transaction() as session:
                created = await add_agent(
                    session,
                    email=email,
                    name=name,
                    password=password,
                    now=SystemClock().now(),
                    role=Role(role),
                    teams=teams,
                )
                return created.id, created.email
        finally:
            await db.dispose()

    try:
        agent_id, stored_email = _run(add)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"agent {stored_email} added (id {agent_id})")


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

    settings = _settings()

    async def run() -> Any:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            return await import_folder(db, folder, SystemClock(), progress=not quiet)
        finally:
            await db.dispose()

    report = _run(run)
    for name, reason in report.errors:
        click.echo(f"skipped {name}: {reason}", err=True)
    click.echo(f"{report.created} created, {report.updated} updated, {len(report.errors)} skipped")
    if report.errors:
        sys.exit(1)


@kb.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def kb_export(folder: Path) -> None:
    """Write every article to FOLDER as SLUG.md; `kb import` reads them back unchanged."""
    from helpdesk.kb.files import export_folder
    from helpdesk.storage.database import Database

    settings = _settings()

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            await db.migrate()
            return await export_folder(db, folder)
        finally:
            await db.dispose()

    click.echo(f"{_run(run)} articles written to {folder}")


# ---- operations (issue 18): backup, restore, settings-reference ----
_register_operations(main)


def _serve(settings: Settings) -> None:
    import uvicorn

    from helpdesk.operations.logs import configure as configure_logging
    from helpdesk.operations.shutdown import GracefulServer
    from helpdesk.runtime import Runtime, tune_garbage_collector
    from helpdesk.web.app import create_app

    operations = settings.operations
    log_config = configure_logging(
        settings.log_level, operations.log_format, operations.trace_messages
    )
    _check_port_free(settings)
    _run(lambda: _check_database(settings))
    runtime = Runtime(settings)
    budget = operations.shutdown_seconds
    config = uvicorn.Config(
        create_app(runtime, drain_seconds=budget / 4),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=log_config,
        ws_max_size=settings.webchat.max_frame_bytes,
        proxy_headers=True,
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


async def _check_database(settings: Settings) -> None:
    """Reach the database and bring its schema up to date, or say plainly why not."""
    from sqlalchemy.engine import make_url

    from helpdesk.storage.database import Database

    where = make_url(settings.database_url).render_as_string(hide_password=True)
    db: Database | None = None
    try:
        db = Database(settings.database_url)
        await db.migrate()
    except Exception as exc:
        raise click.ClickException(
            f"HELPDESK_DATABASE_URL: cannot use {where}: {_root_cause(exc)}"
        ) from None
    finally:
        if db is not None:
            await db.dispose()


def _root_cause(exc: BaseException) -> str:
    # SQLAlchemy's errors wrap the driver's in `orig`: follow it as well as the cause.
    while (deeper := getattr(exc, "orig", None) or exc.__cause__) is not None:
        exc = deeper
    return f"{type(exc).__name__}: {exc}".strip()


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
