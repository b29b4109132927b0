"""Files the helpdesk keeps on disk (the data folder, the SQLite database, the secret key),
created private from the first byte: folders 0700, files 0600, never readable in between."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> None:
    """Create the folder (and missing parents) readable by this user only; an existing one is
    left as the operator made it. Raises PermissionError naming the folder if it cannot be
    written to."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    probe = path / f".helpdesk-write-test-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE)
    except PermissionError as exc:
        raise PermissionError(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)
    probe.unlink()


def private_file(path: Path, content: str | None = None) -> bool:
    """Create the file 0600 unless it exists (then False): the mode is set by the call that
    creates it, so no other user can open it in between. Writes `content` if given."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as file:
        if content is not None:
            file.write(content)
    return True


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for another database or an in-memory one."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def prepare_sqlite_file(url: str) -> None:
    """Its folder private, the database file created 0600 (SQLite gives its -wal and -shm files
    the database file's mode)."""
    path = sqlite_path(url)
    if path is None:
        return
    private_dir(path.parent)
    private_file(path)
