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


def check_storage(settings: Settings) -> None:
    """Create the data folder (0700) and the SQLite file (0600) if needed, or stop with one line
    naming the folder, the setting that chose it and the permission missing."""
    database = sqlite_path(settings.database_url)
    in_data_dir = database is not None and _derived_from_data_dir(settings)
    try:
        if database is None and settings.secret_key:
            return  # nothing of ours on disk: PostgreSQL, and the key is given
        if database is None or in_data_dir:
            private_dir(settings.data_dir)
        if database is not None:
            prepare_sqlite_file(settings.database_url)
    except PermissionError as exc:
        folder = Path(exc.filename or settings.data_dir)
        setting = (
            "HELPDESK_DATA_DIR" if database is None or in_data_dir else "HELPDESK_DATABASE_URL"
        )
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
