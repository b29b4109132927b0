"""What every command does before it touches storage: read the settings, make sure the data
folder and database file can be written (created private), and say where the database is."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from helpdesk.config import ConfigError, Settings, load_settings
from helpdesk.storage.files import prepare_sqlite_file, private_dir, sqlite_path

T = TypeVar("T")


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(factory())
    except OSError as exc:
        raise click.ClickException(f"cannot reach storage: {exc}") from None
    except DBAPIError as exc:
        # An unreadable database file, a refused login: the driver's words, no traceback.
        raise click.ClickException(f"cannot use the database: {exc.orig}") from None


def check_storage(settings: Settings) -> None:
    """Create the data folder (0700) and the SQLite file (0600) if needed, or stop with one line
    naming the folder, the setting that chose it and the permission missing."""
    if sqlite_path(settings.database_url) is None:
        return  # PostgreSQL: nothing of ours on disk (the key is given or in the database)
    in_data_dir = _derived_from_data_dir(settings)
    if in_data_dir or not settings.secret_key:
        # The database or the generated key goes there.
        _writable(lambda: private_dir(settings.data_dir), "HELPDESK_DATA_DIR", settings.data_dir)
    where = "HELPDESK_DATA_DIR" if in_data_dir else "HELPDESK_DATABASE_URL"
    _writable(lambda: prepare_sqlite_file(settings.database_url), where, settings.data_dir)


def _writable(prepare: Callable[[], None], setting: str, default: Path) -> None:
    try:
        prepare()
    except PermissionError as exc:
        folder = Path(exc.filename or default)
        raise click.ClickException(
            f"{setting}: cannot write to the folder {folder.absolute()}: permission denied "
            f"(helpdesk runs as {_user()}, which needs write access to it)"
        ) from None


def _derived_from_data_dir(settings: Settings) -> bool:
    return settings.database_url == f"sqlite+aiosqlite:///{settings.data_dir / 'helpdesk.db'}"


def _user() -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(os.getuid()).pw_name}"
    except (ImportError, KeyError):
        return "this user"


def database_location(settings: Settings) -> str:
    """Where the data is, in words: the absolute SQLite file (a relative URL is relative to the
    directory the command ran in), or the server without its password."""
    database = sqlite_path(settings.database_url)
    if database is not None:
        return f"SQLite file {database.absolute()}"
    url = make_url(settings.database_url)
    return f"PostgreSQL database {url.database} on {url.host}:{url.port or 5432}"
