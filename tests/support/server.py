"""The real helpdesk server in a subprocess (`helpdesk serve`), for end-to-end and crash tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import forkserver
from tests.support.postgres import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


class HelpdeskServer:
    def __init__(
        self, data_dir: Path, database_url: str, *, port: int | None = None, **env: str
    ) -> None:
        """`port` defaults to a free one; pass an earlier server's port to restart "the same"
        server (the same data dir and database too), as clients reconnecting would see it."""
        self.data_dir = data_dir
        self.database_url = database_url
        self.port = free_port() if port is None else port
        self.env = {
            **os.environ,
            "HELPDESK_DATA_DIR": str(data_dir),
            "HELPDESK_DATABASE_URL": database_url,
            "HELPDESK_PORT": str(self.port),
            "HELPDESK_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
            "HELPDESK_LOG_LEVEL": "warning",
            # The server runs the code of this checkout, whatever is installed (worktrees, CI).
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
            ),
            **env,
        }
        self.process: subprocess.Popen[bytes] | forkserver.ForkedProcess | None = None
        self.log_path = data_dir / f"server-{self.port}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/chat/ws"

    def start(self, timeout: float = 30.0) -> HelpdeskServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if forkserver.enabled():
            self.process = forkserver.zygote().spawn(
                ["serve"], env=self.env, cwd=self.data_dir, log=self.log_path
            )
        else:
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "helpdesk", "serve"],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/api/health", timeout=1).json()["status"] == "ok":
                    return self
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut of the process."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
