"""Content-addressed file store: each distinct file is kept once, named by its sha256.

The bytes live in the database, so every process sharing it can send a file any other process
received. Versions before migration 0007 kept them under `<data_dir>/attachments`; such a file
is still read from there when its row is missing, and copied in so that other processes see it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import BigInteger, Insert, LargeBinary, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.common.clock import Clock
from helpdesk.storage.base import Base
from helpdesk.storage.database import Database

# Hashing this much or more runs in a thread, so a 20 MB upload does not stall every chat.
HASH_IN_THREAD_BYTES = 256 * 1024


class AttachmentBlob(Base):
    """The bytes of one distinct file. Rows are only ever added: a digest names its content."""

    __tablename__ = "attachment_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class AttachmentMissing(LookupError):
    """No stored bytes for this digest: neither a row nor a file from an earlier version."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"no stored file with sha256 {sha256}")
        self.sha256 = sha256


class AttachmentStore:
    def __init__(self, db: Database, clock: Clock, *, legacy_root: Path | None = None) -> None:
        self._db = db
        self._clock = clock
        self.legacy_root = legacy_root

    async def put(self, data: bytes) -> str:
        """Store the bytes unless already there; returns their sha256."""
        [digest] = await self.put_many([data])
        return digest

    async def put_many(self, contents: Sequence[bytes]) -> tuple[str, ...]:
        """Store several files in one transaction; returns their digests in the same order."""
        if not contents:
            return ()
        digests = await _digests(contents)
        by_digest = dict(zip(digests, contents, strict=True))
        # Known files are common (a signature logo in every mail): their bytes never travel again.
        absent = set(by_digest) - await self._present(by_digest)
        await self._insert({digest: by_digest[digest] for digest in absent})
        return digests

    async def get(self, sha256: str) -> bytes:
        """The bytes stored under `sha256`; raises AttachmentMissing if there are none."""
        _check_digest(sha256)
        async with self._db.read() as session:
            data = await session.scalar(
                select(AttachmentBlob.data).where(AttachmentBlob.sha256 == sha256)
            )
        if data is not None:
            return data
        recovered = await self._recover([sha256])
        if sha256 not in recovered:
            raise AttachmentMissing(sha256)
        return recovered[sha256]

    async def missing(self, digests: Iterable[str]) -> set[str]:
        """Those of `digests` whose bytes cannot be read, without loading the ones that can."""
        wanted = set(digests)
        if not wanted:
            return set()
        for digest in wanted:
            _check_digest(digest)
        absent = wanted - await self._present(wanted)
        return absent - set(await self._recover(absent)) if absent else set()

    async def _present(self, digests: Collection[str]) -> set[str]:
        async with self._db.read() as session:
            found = await session.scalars(
                select(AttachmentBlob.sha256).where(AttachmentBlob.sha256.in_(digests))
            )
            return set(found)

    async def _insert(self, files: dict[str, bytes]) -> None:
        if not files:
            return
        now = self._clock.now()
        rows = [
            {"sha256": digest, "size": len(data), "data": data, "created_at": now}
            for digest, data in files.items()
        ]
        async with self._db.write_connection() as connection:
            # Another process may store the same file at the same moment; either row will do.
            await connection.execute(_insert_if_absent(connection.dialect.name), rows)

    async def _recover(self, digests: Collection[str]) -> dict[str, bytes]:
        """Files an earlier version wrote to disk, checked against their names and copied into
        the database; a file that does not match its name is treated as lost."""
        if self.legacy_root is None or not digests:
            return {}
        found = await asyncio.to_thread(_read_legacy, self.legacy_root, digests)
        await self._insert(found)
        return found


def _check_digest(sha256: str) -> None:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a sha256 hex digest")


async def _digests(contents: Sequence[bytes]) -> tuple[str, ...]:
    if sum(len(data) for data in contents) < HASH_IN_THREAD_BYTES:
        return _hash_all(contents)
    return await asyncio.to_thread(_hash_all, contents)


def _hash_all(contents: Sequence[bytes]) -> tuple[str, ...]:
    return tuple(hashlib.sha256(data).hexdigest() for data in contents)


def legacy_path(root: Path, sha256: str) -> Path:
    """Where versions before 0007 kept a file."""
    return root / sha256[:2] / sha256[2:]


def _read_legacy(root: Path, digests: Collection[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for digest in digests:
        try:
            data = legacy_path(root, digest).read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest() == digest:
            found[digest] = data
    return found


def _insert_if_absent(dialect: str) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(AttachmentBlob).on_conflict_do_nothing(index_elements=["sha256"])
    return sqlite.insert(AttachmentBlob).on_conflict_do_nothing(index_elements=["sha256"])
