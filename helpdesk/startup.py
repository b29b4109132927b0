"""Before `serve` listens: the database reachable and current, the secret key chosen (and
where it comes from said), and demo data refused unless this is a demo."""

from __future__ import annotations

import logging

import click
from sqlalchemy import select
from sqlalchemy.engine import make_url

from helpdesk.cli_support import database_location
from helpdesk.common.security import verify_password
from helpdesk.config import Settings
from helpdesk.staff.accounts import DEMO_PASSWORD
from helpdesk.staff.models import Agent
from helpdesk.storage.database import Database
from helpdesk.storage.files import sqlite_path
from helpdesk.storage.shared_secret import shared_secret_key

log = logging.getLogger("helpdesk.startup")
# The accounts `helpdesk demo` creates (helpdesk/demo.py), with the published password.
DEMO_DOMAIN = "@demo.test"


async def prepare_to_serve(settings: Settings) -> list[str]:
    """Lines to print at start: where the database is and where the key comes from. Raises
    ClickException with one clear line when the database cannot be used or holds demo data."""
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    db: Database | None = None
    try:
        db = Database(settings.database_url)
        await db.migrate()
        key_source = await _choose_secret_key(settings, db)
        demo_accounts = [] if settings.demo else await published_demo_accounts(db)
    except Exception as exc:
        raise click.ClickException(
            f"HELPDESK_DATABASE_URL: cannot use {where}: {_root_cause(exc)}"
        ) from None
    finally:
        if db is not None:
            await db.dispose()
    if demo_accounts:
        raise click.ClickException(
            "refusing to serve demo data: "
            f"{', '.join(demo_accounts)} still log in with the published password "
            f"{DEMO_PASSWORD!r}. Disable them or set new passwords (`helpdesk agent disable "
            "EMAIL`, `helpdesk agent password EMAIL`), or, for a demo only, run `helpdesk demo` "
            "or set HELPDESK_DEMO=true"
        )
    return [f"database: {database_location(settings)}", f"secret key: {key_source}"]


async def _choose_secret_key(settings: Settings, db: Database) -> str:
    if settings.secret_key:
        return "from the settings (HELPDESK_SECRET_KEY)"
    if sqlite_path(settings.database_url) is None:
        # Several processes share a PostgreSQL database: they must sign with one key.
        settings.secret_key = await shared_secret_key(db)
        return "stored in the database, shared by every process that uses it"
    settings.ensure_secret_key()
    return f"kept in {(settings.data_dir / 'secret_key').absolute()} (mode 0600)"


async def published_demo_accounts(db: Database) -> list[str]:
    """Active demo accounts that still have the published password."""
    async with db.read() as session:
        candidates = list(
            await session.scalars(
                select(Agent).where(Agent.active, Agent.email.endswith(DEMO_DOMAIN))
            )
        )
    return [a.email for a in candidates if await verify_password(a.password_hash, DEMO_PASSWORD)]


def _root_cause(exc: BaseException) -> str:
    # SQLAlchemy's errors wrap the driver's in `orig`: follow it as well as the cause.
    while (deeper := getattr(exc, "orig", None) or exc.__cause__) is not None:
        exc = deeper
    return f"{type(exc).__name__}: {exc}".strip()
