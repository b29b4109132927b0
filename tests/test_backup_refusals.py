"""What `helpdesk backup` and `helpdesk restore` refuse, each with a reason an operator can act on:
an archive from a newer helpdesk or another kind of database, a damaged or foreign file, a file
name that would land outside the data dir, and a PostgreSQL backup without pg_dump."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from tests.conftest import seed_staff
from tests.support.cli import run_cli
from tests.support.postgres import PostgresServer


def sqlite_env(folder: Path) -> dict[str, str]:
    return {
        "HELPDESK_DATA_DIR": str(folder),
        "HELPDESK_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'helpdesk.db'}",
    }


def rewrite(
    archive: Path,
    changed: Path,
    *,
    manifest: dict[str, object] | None = None,
    extra: tuple[str, bytes] | None = None,
) -> None:
    """A copy of `archive` with its manifest changed or a member added."""
    with tarfile.open(archive) as source, tarfile.open(changed, "w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json" and manifest is not None:
                data = json.dumps({**json.loads(data), **manifest}).encode()
                member.size = len(data)
            target.addfile(member, io.BytesIO(data))
        if extra is not None:
            info = tarfile.TarInfo(extra[0])
            info.size = len(extra[1])
            target.addfile(info, io.BytesIO(extra[1]))


def cut_short(source: Path, copy: Path, size: int) -> None:
    copy.write_bytes(source.read_bytes()[:size])


@pytest.fixture
async def archive(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    await seed_staff(f"sqlite+aiosqlite:///{source / 'helpdesk.db'}")
    path = tmp_path / "backup.tar"
    made = await run_cli("backup", str(path), "--quiet", **sqlite_env(source))
    assert made.returncode == 0, made.stderr
    again = await run_cli("backup", str(path), "--quiet", **sqlite_env(source))
    assert again.returncode == 1 and "exists; choose another name or pass --force" in again.stderr
    return path


async def restore_error(archive: Path, target: Path) -> str:
    result = await run_cli("restore", str(archive), "--quiet", **sqlite_env(target))
    assert result.returncode == 1, result.stdout
    assert not (target / "helpdesk.db").exists(), "a refused restore wrote the database"
    return result.stderr


async def test_restore_refuses_archives_it_cannot_trust(archive: Path, tmp_path: Path):
    newer = tmp_path / "newer.tar"
    rewrite(archive, newer, manifest={"schema_revision": "9999", "helpdesk_version": "9.0"})
    assert "schema revision 9999 is newer than this helpdesk (made by version 9.0)" in (
        await restore_error(newer, tmp_path / "a")
    )

    other_kind = tmp_path / "postgres.tar"
    rewrite(archive, other_kind, manifest={"database": "postgresql"})
    assert "the backup is of a postgresql database" in await restore_error(
        other_kind, tmp_path / "b"
    )

    escaping = tmp_path / "escaping.tar"
    rewrite(archive, escaping, extra=("data/../../outside", b"x"))
    assert "unsafe name" in await restore_error(escaping, tmp_path / "c")
    assert not (tmp_path / "outside").exists()

    foreign = tmp_path / "notes.tar"
    foreign.write_bytes(b"just some text, not a tar file")
    assert "is not a helpdesk backup" in await restore_error(foreign, tmp_path / "d")

    truncated = tmp_path / "truncated.tar"
    cut_short(archive, truncated, 20_000)
    assert "damaged or truncated" in await restore_error(truncated, tmp_path / "e")


async def test_a_postgresql_backup_without_pg_dump_says_how_to_get_it(
    postgres: PostgresServer, tmp_path: Path
):
    database_url = postgres.create_database("backup_without_pg_dump")
    await seed_staff(database_url)
    result = await run_cli(
        "backup",
        str(tmp_path / "backup.tar"),
        "--quiet",
        HELPDESK_DATABASE_URL=database_url,
        HELPDESK_DATA_DIR=str(tmp_path),
        PATH="/nonexistent",
    )
    assert result.returncode == 1
    assert "pg_dump is not installed or not on PATH" in result.stderr
    assert "apt install postgresql-client" in result.stderr
    assert not (tmp_path / "backup.tar").exists()
