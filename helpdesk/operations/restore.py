"""`helpdesk restore FILE`: put a backup back, into an empty data dir and database only, unless
the operator passes --force. Stop every helpdesk process on the database first.

The archive is read as a stream, once: the manifest comes first and is checked (database kind,
schema revision not newer than this code) before anything is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from alembic.script import ScriptDirectory

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
    open_for_reading,
    progress_bar,
    safe_data_name,
)
from helpdesk.operations.backup import CHUNK, sqlite_path
from helpdesk.storage.database import alembic_config


@dataclass(frozen=True, slots=True)
class RestoreReport:
    manifest: Manifest
    counts: dict[str, int]
    files: int
    seconds: float


async def restore(
    settings: Settings, source: Path, *, force: bool = False, progress: bool = True
) -> RestoreReport:
    started = time.monotonic()
    archive = open_for_reading(source)
    try:
        first = archive.next()
        if first is None or first.name != MANIFEST:
            raise BackupError(f"{source} is not a helpdesk backup: it starts with no manifest")
        manifest = Manifest.from_bytes(_read(archive, first))
        _check_compatible(settings, manifest)
        if not force:
            await _check_empty(settings)
        staged = _Staged(settings)
        try:
            await _read_members(archive, settings, staged, force, progress)
        except (tarfile.TarError, EOFError) as exc:
            staged.discard()
            raise BackupError(f"{source} is damaged or truncated: {exc}") from None
        except BaseException:
            staged.discard()
            raise
        # Only a whole archive, read to its end without a fault, replaces anything.
        files = staged.publish()
    finally:
        archive.close()
    counts = await _counts(settings)
    short = {t: (n, counts.get(t, 0)) for t, n in manifest.counts.items() if counts.get(t, 0) < n}
    if short:
        raise BackupError(f"the restored database holds fewer rows than the backup: {short}")
    return RestoreReport(manifest, counts, files, time.monotonic() - started)


class _Staged:
    """What the archive holds, written beside its place until the whole archive has been read.
    (A PostgreSQL restore commits as pg_restore ends; the files after it are still staged.)"""

    def __init__(self, settings: Settings) -> None:
        self.database: Path | None = None
        self.target = sqlite_path(settings.database_url) if settings.is_sqlite else None
        self.data_dir = settings.data_dir
        self.folder = settings.data_dir / ".restoring"
        self.files: list[Path] = []

    def publish(self) -> int:
        if self.database is not None and self.target is not None:
            # A log left by the replaced database must not be replayed onto the restored one.
            for suffix in ("-wal", "-shm"):
                self.target.with_name(self.target.name + suffix).unlink(missing_ok=True)
            self.database.replace(self.target)
        for relative in self.files:
            final = self.data_dir / relative
            final.parent.mkdir(parents=True, exist_ok=True)
            (self.folder / relative).replace(final)
        shutil.rmtree(self.folder, ignore_errors=True)
        return len(self.files)

    def discard(self) -> None:
        if self.database is not None:
            self.database.unlink(missing_ok=True)
        shutil.rmtree(self.folder, ignore_errors=True)


async def _read_members(
    archive: tarfile.TarFile, settings: Settings, staged: _Staged, force: bool, progress: bool
) -> None:
    while (member := archive.next()) is not None:
        if member.name == SQLITE_MEMBER and settings.is_sqlite:
            staged.database = await asyncio.to_thread(
                _restore_sqlite, archive, member, settings, progress
            )
        elif member.name == POSTGRES_MEMBER and not settings.is_sqlite:
            await _restore_postgres(archive, member, settings, force, progress)
        elif member.name.startswith(DATA_PREFIX) and member.isfile():
            relative = safe_data_name(member.name)
            _write_private(staged.folder / relative, _read(archive, member))
            staged.files.append(relative)
        else:
            raise BackupError(f"the archive holds an unexpected member {member.name!r}")


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    stream = archive.extractfile(member)
    if stream is None:
        raise BackupError(f"the archive's {member.name} is not a file")
    return stream.read()


def _check_compatible(settings: Settings, manifest: Manifest) -> None:
    kind = "sqlite" if settings.is_sqlite else "postgresql"
    if manifest.database != kind:
        raise BackupError(
            f"the backup is of a {manifest.database} database and HELPDESK_DATABASE_URL names "
            f"a {kind} one; restore it into the same kind of database"
        )
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if manifest.schema_revision is not None and manifest.schema_revision not in known:
        raise BackupError(
            f"the backup's schema revision {manifest.schema_revision} is newer than this "
            f"helpdesk (made by version {manifest.helpdesk_version}); upgrade helpdesk first"
        )


async def _check_empty(settings: Settings) -> None:
    """Refuse to overwrite anything: a database with tables, a secret key, attachment files."""
    found: list[str] = []
    if settings.is_sqlite:
        path = sqlite_path(settings.database_url)
        if path.exists() and path.stat().st_size > 0:
            found.append(f"the database {path}")
    else:
        tables = await _pg_tables(settings.database_url)
        if tables:
            found.append(f"the database holds {len(tables)} tables")
    if (settings.data_dir / "secret_key").exists():
        found.append(f"{settings.data_dir / 'secret_key'}")
    legacy = settings.data_dir / "attachments"
    if legacy.is_dir() and any(legacy.iterdir()):
        found.append(f"files in {legacy}")
    if found:
        raise BackupError(
            "restore only writes into an empty data dir and database, and found: "
            + "; ".join(found)
            + ". Stop the helpdesk and pass --force to replace them."
        )


def _restore_sqlite(
    archive: tarfile.TarFile, member: tarfile.TarInfo, settings: Settings, progress: bool
) -> Path:
    target = sqlite_path(settings.database_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(target.name + ".restoring")
    stream = archive.extractfile(member)
    assert stream is not None
    with incoming.open("wb") as out:
        _copy(stream, out, member.size, progress, "restoring database")
        out.flush()
        os.fsync(out.fileno())
    try:
        with contextlib.closing(sqlite3.connect(incoming)) as db:
            ok = db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    except sqlite3.DatabaseError:
        ok = False
    if not ok:
        incoming.unlink(missing_ok=True)
        raise BackupError("the database in the archive fails SQLite's quick_check")
    return incoming


async def _restore_postgres(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    settings: Settings,
    clean: bool,
    progress: bool,
) -> None:
    target = postgres_tools.PostgresTarget.from_url(settings.database_url)
    command = postgres_tools.restore_command(target, clean=clean)
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=target.environment(),
    )
    assert process.stdin is not None and process.stderr is not None
    errors = asyncio.create_task(process.stderr.read())
    stream = archive.extractfile(member)
    assert stream is not None
    with progress_bar(progress, "pg_restore", unit="B", total=member.size) as bar:
        try:
            while chunk := await asyncio.to_thread(stream.read, CHUNK):
                process.stdin.write(chunk)
                await process.stdin.drain()
                bar.update(len(chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # pg_restore stopped early: its exit status and message say why
        finally:
            process.stdin.close()
    status = await process.wait()
    if status != 0:
        stderr = (await errors).decode(errors="replace").strip()
        raise BackupError(f"pg_restore failed (exit {status}): {stderr}")


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o600)


def _copy(stream: IO[bytes], out: IO[bytes], size: int, progress: bool, label: str) -> None:
    with progress_bar(progress, label, unit="B", total=size) as bar:
        while chunk := stream.read(CHUNK):
            out.write(chunk)
            bar.update(len(chunk))


async def _pg_tables(url: str) -> set[str]:
    connection = await postgres_tools.PostgresTarget.from_url(url).connect()
    try:
        return await postgres_tools.tables(connection)
    finally:
        await connection.close()


async def _counts(settings: Settings) -> dict[str, int]:
    if settings.is_sqlite:
        path = sqlite_path(settings.database_url)
        with contextlib.closing(sqlite3.connect(path)) as db:
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            return {
                t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                for t in COUNTED_TABLES
                if t in names
            }
    connection = await postgres_tools.PostgresTarget.from_url(settings.database_url).connect()
    try:
        return await postgres_tools.count_rows(connection)
    finally:
        await connection.close()
