"""`helpdesk backup FILE`: a consistent copy of the database, the data dir's secret key and the
attachment files of versions before 0007, while the server keeps serving.

SQLite: the online backup API, copying pages in steps inside one read transaction, so the copy is
the database as of one instant; WAL lets the server's writers go on meanwhile. PostgreSQL:
`pg_dump` in a snapshot exported from a transaction that also counts the rows for the manifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import asyncpg
from tqdm import tqdm

from helpdesk import __version__
from helpdesk.config import Settings
from helpdesk.operations import postgres_tools
from helpdesk.operations.archive import (
    COUNTED_TABLES,
    DATA_PREFIX,
    MANIFEST,
    POSTGRES_MEMBER,
    SQLITE_MEMBER,
    BackupError,
    Manifest,
    open_for_writing,
    progress_bar,
)

# Pages copied per step of the SQLite backup (4 MB at the default 4 KB page).
STEP_PAGES = 1024
CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: Path
    size: int
    seconds: float
    manifest: Manifest


async def backup(
    settings: Settings, target: Path, *, progress: bool = True, overwrite: bool = False
) -> BackupReport:
    _check_target(target, overwrite)
    started = time.monotonic()
    partial = target.with_name(target.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="helpdesk-backup-", dir=target.parent) as work:
        if settings.is_sqlite:
            database_file = Path(work) / "helpdesk.sqlite"
            manifest = await asyncio.to_thread(
                _sqlite_copy, sqlite_path(settings.database_url), database_file, progress
            )
            member = SQLITE_MEMBER
        else:
            database_file = Path(work) / "helpdesk.pgdump"
            manifest = await _postgres_dump(settings.database_url, database_file, progress)
            member = POSTGRES_MEMBER
        await asyncio.to_thread(
            _write_archive,
            partial,
            target,
            manifest,
            member,
            database_file,
            settings.data_dir,
            progress,
        )
    # Only a complete archive gets the name asked for: a failed backup never looks like one.
    size = _publish(partial, target)
    return BackupReport(target, size, time.monotonic() - started, manifest)


def _check_target(target: Path, overwrite: bool) -> None:
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists; choose another name or pass --force to replace it")
    if not target.parent.is_dir():
        raise BackupError(f"no folder {target.parent} to write the backup into")


def _publish(partial: Path, target: Path) -> int:
    partial.replace(target)
    return target.stat().st_size


def sqlite_path(url: str) -> Path:
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(path)


def _sqlite_copy(source: Path, copy: Path, progress: bool) -> Manifest:
    if not source.exists():
        raise BackupError(f"no database at {source}; check HELPDESK_DATA_DIR / DATABASE_URL")
    with contextlib.closing(sqlite3.connect(source, isolation_level=None, timeout=30)) as src:
        page_size = src.execute("PRAGMA page_size").fetchone()[0]
        # A read transaction held across every step: the copy is one instant of the database,
        # and writers in other connections do not restart it (they would between steps).
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()
        with (
            contextlib.closing(sqlite3.connect(copy)) as dst,
            progress_bar(progress, "copying database", unit="B") as bar,
        ):

            def step(_status: int, remaining: int, total: int) -> None:
                bar.total = total * page_size
                bar.update((total - remaining) * page_size - bar.n)

            src.backup(dst, pages=STEP_PAGES, progress=step)
        src.execute("COMMIT")
    with contextlib.closing(sqlite3.connect(copy)) as db:
        # The copy is read on its own later: fold its log in and leave one self-contained file.
        db.execute("PRAGMA journal_mode=DELETE")
        revision = _one(db, "SELECT version_num FROM alembic_version")
        counts = {t: int(_one(db, f"SELECT count(*) FROM {t}") or 0) for t in _present(db)}
    return _manifest("sqlite", revision, counts)


def _present(db: sqlite3.Connection) -> list[str]:
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return [t for t in COUNTED_TABLES if t in names]


def _one(db: sqlite3.Connection, sql: str) -> str | int | None:
    try:
        row = db.execute(sql).fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def _manifest(kind: str, revision: object, counts: dict[str, int]) -> Manifest:
    return Manifest(
        database="sqlite" if kind == "sqlite" else "postgresql",
        schema_revision=None if revision is None else str(revision),
        helpdesk_version=__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        counts=counts,
    )


async def _postgres_dump(url: str, dump: Path, progress: bool) -> Manifest:
    target = postgres_tools.PostgresTarget.from_url(url)
    command = postgres_tools.dump_command(target, snapshot=None)  # pg_dump present?
    connection = await target.connect()
    try:
        transaction = connection.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
        snapshot = await connection.fetchval("SELECT pg_export_snapshot()")
        revision = await _pg_revision(connection)
        counts = await postgres_tools.count_rows(connection)
        size = await connection.fetchval("SELECT pg_database_size(current_database())")
        command = postgres_tools.dump_command(target, snapshot=snapshot)
        # The snapshot lives as long as this transaction: it ends after pg_dump has finished.
        await _run_dump(command, target.environment(), dump, int(size), progress)
        await transaction.rollback()
    finally:
        await connection.close()
    return _manifest("postgresql", revision, counts)


async def _pg_revision(connection: asyncpg.Connection) -> str | None:
    try:
        value = await connection.fetchval("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        return None
    return None if value is None else str(value)


async def _run_dump(
    command: list[str], env: dict[str, str], dump: Path, estimate: int, progress: bool
) -> None:
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    errors = asyncio.create_task(process.stderr.read())
    # The dump is compressed, so the database's size is only an upper bound for the bar.
    with dump.open("wb") as out, progress_bar(progress, "pg_dump", unit="B", total=estimate) as bar:
        while chunk := await process.stdout.read(CHUNK):
            out.write(chunk)
            bar.update(len(chunk))
    status = await process.wait()
    stderr = (await errors).decode(errors="replace").strip()
    if status != 0:
        raise BackupError(f"pg_dump failed (exit {status}): {stderr}")


def _write_archive(
    path: Path,
    named: Path,
    manifest: Manifest,
    member: str,
    database_file: Path,
    data_dir: Path,
    progress: bool,
) -> None:
    extras = list(_data_files(data_dir))
    total = database_file.stat().st_size + sum(p.stat().st_size for _, p in extras)
    with (
        open_for_writing(path, named=named) as archive,
        progress_bar(progress, "writing archive", unit="B", total=total) as bar,
    ):
        _add_bytes(archive, MANIFEST, manifest.to_bytes())
        _add_file(archive, member, database_file, bar)
        for name, file in extras:
            _add_file(archive, name, file, bar)


def _data_files(data_dir: Path) -> Iterator[tuple[str, Path]]:
    """The generated secret key (a configured one lives with the operator's configuration) and
    attachments kept as files by versions before migration 0007."""
    key = data_dir / "secret_key"
    if key.is_file():
        yield DATA_PREFIX + "secret_key", key
    legacy = data_dir / "attachments"
    if legacy.is_dir():
        for file in sorted(legacy.rglob("*")):
            if file.is_file():
                yield DATA_PREFIX + file.relative_to(data_dir).as_posix(), file


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


def _add_file(archive: tarfile.TarFile, name: str, file: Path, bar: tqdm[Any]) -> None:
    info = tarfile.TarInfo(name)
    stat = file.stat()
    info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o600
    with file.open("rb") as source:
        archive.addfile(info, _Counting(source, bar))


class _Counting(io.RawIOBase):
    """A file whose reads move the progress bar."""

    def __init__(self, source: IO[bytes], bar: tqdm[Any]) -> None:
        self._source, self._bar = source, bar

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._bar.update(len(data))
        return data
