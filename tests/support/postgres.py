"""A throwaway PostgreSQL server on loopback, run as the `postgres` OS user (it refuses root)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

ROLE, PASSWORD = "helpdesk", "pw"
_running: dict[int, PostgresServer] = {}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
    return Path(found[-1]).parent


class PostgresServer:
    def __init__(self, *, fsync: bool = False) -> None:
        self.bin = _pg_bin()
        self.port = free_port()
        self.fsync = fsync
        # Without fsync nothing is meant to survive a crash of the machine, so the data can
        # live in memory: a session's hundred-odd databases took 11 s to delete from disk.
        memory = Path("/dev/shm")
        in_memory = not fsync and memory.is_dir() and os.access(memory, os.W_OK)
        self.root = Path(tempfile.mkdtemp(prefix="helpdesk-pg-", dir=memory if in_memory else None))
        self._user = pwd.getpwnam("postgres")

    def _as_postgres(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)
        return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]

    def start(self) -> PostgresServer:
        os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        pwfile = self.root / "pwfile"
        pwfile.write_text("postgres\n")
        os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
        data = self.root / "data"
        self._as_postgres(
            str(self.bin / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        durability = (
            "-c fsync=on -c synchronous_commit=on"
            if self.fsync
            else ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} {durability} "
            "-c max_connections=200"
        )
        self._as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "30",
            "start",
            "-o",
            options,
        )
        self.psql(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'")
        _running[self.port] = self
        return self

    @staticmethod
    def on_port(port: int | None) -> PostgresServer | None:
        """The server these tests started on `port`, if any."""
        return _running.get(port) if port is not None else None

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = self._as_postgres(
            str(self.bin / "psql"),
            "-h",
            str(self.root),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-qAt",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        )
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}" OWNER {ROLE}')
        return self.url(name)

    def replace_with_copy(self, name: str, template: str) -> bool:
        """Replace the database `name` by a copy of `template`, but only while `name` is still
        as `create_database` made it (no tables, nobody connected): then nobody can tell the
        copy from a database filled step by step. False, and nothing changed, otherwise."""
        untouched = self.psql(
            "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = 'public') = 0"
            " AND (SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()) = 0",
            database=name,
        )
        if untouched != "t":
            return False
        self.psql(f'DROP DATABASE "{name}"')
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}" OWNER {ROLE}')
        return True

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def restart(self) -> None:
        """Stop as an operator's restart does (every connection cut, what was committed kept)
        and start again on the same port with the same data."""
        # `restart` starts again with the options of the first start (postmaster.opts).
        self._as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "server.log"),
            "-m",
            "fast",
            "-w",
            "restart",
        )

    def stop(self) -> None:
        _running.pop(self.port, None)
        with contextlib.suppress(subprocess.CalledProcessError):
            self._as_postgres(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            )
        shutil.rmtree(self.root, ignore_errors=True)
