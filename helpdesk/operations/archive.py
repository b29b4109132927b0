"""The backup archive: a tar file (gzip-compressed when its name ends in .gz or .tgz).

Members, in this order, so that a restore can refuse a wrong archive before reading the rest:

    manifest.json                what made it, the schema revision, row counts to check against
    database/helpdesk.sqlite     SQLite: the online backup API's copy
    database/helpdesk.pgdump     PostgreSQL: `pg_dump --format=custom`
    data/secret_key              the generated key, when it lives in the data dir
    data/attachments/ab/cdef…    files written by versions before migration 0007
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/helpdesk.sqlite"
POSTGRES_MEMBER = "database/helpdesk.pgdump"
DATA_PREFIX = "data/"
# Row counts stored in the manifest and checked after a restore.
COUNTED_TABLES = ("tickets", "messages", "customers", "attachment_blobs", "events")


class BackupError(Exception):
    """A backup or restore cannot go on; the message says why and what to do."""


@dataclass(slots=True)
class Manifest:
    database: Literal["sqlite", "postgresql"]
    schema_revision: str | None
    helpdesk_version: str
    created_at: str
    counts: dict[str, int] = field(default_factory=dict)
    format: int = FORMAT

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        try:
            data: dict[str, Any] = json.loads(raw)
            if data.get("format") != FORMAT:
                raise BackupError(
                    f"archive format {data.get('format')!r}; this helpdesk reads format {FORMAT}"
                )
            return cls(
                database=data["database"],
                schema_revision=data["schema_revision"],
                helpdesk_version=data["helpdesk_version"],
                created_at=data["created_at"],
                counts={str(k): int(v) for k, v in data["counts"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(f"the archive's manifest is damaged: {exc}") from None


def write_mode(path: Path) -> Literal["w", "w:gz"]:
    return "w:gz" if path.name.endswith((".gz", ".tgz")) else "w"


def open_for_writing(path: Path, *, named: Path) -> tarfile.TarFile:
    """Write to `path`, compressed as the name the archive will finally have asks."""
    if write_mode(named) == "w:gz":
        # Level 1: the database is most of the archive, and level 6 took 4x as long for 10 %.
        return tarfile.open(path, "w:gz", compresslevel=1)
    return tarfile.open(path, "w")


def open_for_reading(path: Path) -> tarfile.TarFile:
    """A stream: members are read once, in order, whatever the compression."""
    try:
        return tarfile.open(path, "r|*")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{path} is not a helpdesk backup: {exc}") from None


def safe_data_name(name: str) -> Path:
    """The relative path under the data dir of a `data/…` member, refusing anything that could
    land outside it (an archive is input like any other)."""
    relative = Path(name[len(DATA_PREFIX) :])
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise BackupError(f"the archive holds a file with an unsafe name: {name!r}")
    if relative.parts[0] not in ("attachments", "secret_key"):
        raise BackupError(f"the archive holds an unexpected file: {name!r}")
    return relative


def progress_bar(progress: bool, label: str, *, unit: str, total: int | None = None) -> tqdm[Any]:
    """A bar on standard error, in bytes when `unit` is B; nothing when `progress` is off."""
    return tqdm(
        total=total,
        desc=label,
        unit=unit,
        unit_scale=True,
        unit_divisor=1024,
        disable=not progress,
        leave=True,
    )
