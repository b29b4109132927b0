"""Start `helpdesk serve` in about a second instead of five: a "zygote" process imports the helpdesk
and its libraries once per test session, then forks one child per server.

Python spends most of a server's start-up importing (FastAPI, SQLAlchemy, pydantic models,
aiogram for Telegram); the forked child skips all of that and runs the very same command line
(`helpdesk.cli.main(["serve"])`) with the environment, working directory and log file it was
given, so tests see a separate server process that they can SIGTERM or SIGKILL as before. The
CLI tests still start `python -m helpdesk` from scratch, so start-up from a cold interpreter stays
covered. Set TESTS_FORK_SERVERS=0 to start every server as a fresh `python -m helpdesk serve`.

The zygote has one thread and no event loop when it forks (fork copies only the calling thread,
so a thread holding a lock at that moment would leave the child stuck). It reaps its children
and reports each exit status on the connection that asked for the child; if that connection
closes first (the test process died), the child is killed, and when the test process goes away
(EOF on the zygote's stdin) every child is killed: no server outlives the test session.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

# What `helpdesk serve` imports on its way up, Telegram's aiogram (4 s alone) included.
PRELOAD = (
    "helpdesk.cli",
    "helpdesk.runtime",
    "helpdesk.web.app",
    "helpdesk.channels.telegram.service",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "sqlalchemy.dialects.postgresql.asyncpg",
    "aiosqlite",
    "asyncpg",
    "uvicorn",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
)


def enabled() -> bool:
    return os.environ.get("TESTS_FORK_SERVERS", "1") != "0"


# --- the test process's side ------------------------------------------------------------------


class ForkedProcess:
    """A child of the zygote, with the part of `subprocess.Popen` that the tests use."""

    def __init__(self, connection: socket.socket, pid: int, buffer: bytes = b"") -> None:
        self._connection = connection
        self._buffer = buffer
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._read(timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and not self._read(timeout):
            raise subprocess.TimeoutExpired(f"helpdesk server pid {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        # The pid is the child's until the zygote reaps it, and the zygote reports that at once:
        # looking for the report first leaves a stranger reusing the pid only a moment's chance.
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _read(self, timeout: float | None) -> bool:
        """Wait up to `timeout` for the exit status; True once it is known."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._connection.settimeout(left)
            try:
                chunk = self._connection.recv(4096)
            except (TimeoutError, BlockingIOError):
                return False
            if not chunk:
                raise RuntimeError(f"the zygote went away before server pid {self.pid} ended")
            self._buffer += chunk
        self.returncode = json.loads(self._buffer.split(b"\n", 1)[0])["returncode"]
        self._connection.close()
        return True


class Zygote:
    """The test process's handle on the zygote: started once a session, in the background as
    the tests are collected (`launch`) or else when the first server is wanted."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="helpdesk-zygote-"))
        self.socket_path = self.dir / "zygote.sock"
        self.log_path = self.dir / "zygote.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._ready = threading.Event()

    def launch(self) -> None:
        """Start the zygote without waiting for it: its imports then overlap whatever the tests
        do before they need their first server."""
        with self._lock:
            if self.process is not None and self.process.poll() is None:
                return
            self.dir.mkdir(exist_ok=True)
            self.socket_path.unlink(missing_ok=True)
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
                ),
            }
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "tests.support.forkserver", str(self.socket_path)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env=env,
                    cwd=REPO_ROOT,
                )
            self._ready = threading.Event()
            threading.Thread(target=self._await_ready, args=(self.process,), daemon=True).start()

    def _await_ready(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        if process.stdout.readline() == b"ready\n":
            self._ready.set()

    def _ready_or_fail(self, timeout: float = 120.0) -> None:
        self.launch()
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server zygote did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def spawn(self, args: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> ForkedProcess:
        self._ready_or_fail()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(str(self.socket_path))
        request = {"args": args, "env": env, "cwd": str(cwd), "log": str(log)}
        connection.sendall(json.dumps(request).encode() + b"\n")
        reply = b""
        while b"\n" not in reply:
            chunk = connection.recv(4096)
            if not chunk:
                raise RuntimeError(f"the zygote refused to fork:\n{self.log()}")
            reply += chunk
        # A child that died at once has its exit status right behind its pid.
        line, rest = reply.split(b"\n", 1)
        return ForkedProcess(connection, json.loads(line)["pid"], rest)

    def stop(self) -> None:
        if self.process is not None:
            assert self.process.stdin is not None
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)


_zygote: Zygote | None = None


def zygote() -> Zygote:
    global _zygote
    if _zygote is None:
        _zygote = Zygote()
    return _zygote


def stop_zygote() -> None:
    if _zygote is not None:
        _zygote.stop()


# --- the zygote's side ------------------------------------------------------------------------


def _child(request: dict[str, Any], inherited: list[Any]) -> None:
    """Runs in the forked child and never returns."""
    code = 1
    try:
        for thing in inherited:
            with contextlib.suppress(OSError):
                thing.close()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["helpdesk", *request["args"]]
        from helpdesk.cli import main

        try:
            main(args=request["args"], prog_name="helpdesk")
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            import logging

            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        # Not sys.exit: the zygote's own exit handlers belong to the zygote.
        os._exit(code)


def _serve(socket_path: str) -> None:
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)
    if threading.active_count() != 1:
        raise RuntimeError(f"a preloaded module started threads: {threading.enumerate()}")

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listener")
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    # pidfd -> (pid, connection); connection -> pid
    children: dict[int, tuple[int, socket.socket]] = {}
    connections: dict[socket.socket, int] = {}
    sys.stdout.write("ready\n")
    sys.stdout.flush()

    while True:
        for key, _ in selector.select():
            if key.data == "stdin":
                # The test process is gone or done: no server outlives it.
                for pid, _connection in children.values():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                for pid, _connection in children.values():
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, 0)
                return
            if key.data == "listener":
                connection, _ = listener.accept()
                request = _read_request(connection)
                if request is None:
                    connection.close()
                    continue
                sys.stderr.flush()
                inherited: list[Any] = [listener, selector, connection, *connections]
                inherited += [_Fd(fd) for fd in children]
                pid = os.fork()
                if pid == 0:
                    _child(request, inherited)
                pidfd = os.pidfd_open(pid)
                children[pidfd] = (pid, connection)
                connections[connection] = pid
                selector.register(pidfd, selectors.EVENT_READ, "child")
                selector.register(connection, selectors.EVENT_READ, "connection")
                connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
            elif key.data == "child":
                pidfd = key.fd
                pid, connection = children.pop(pidfd)
                selector.unregister(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                if connection in connections:
                    del connections[connection]
                    selector.unregister(connection)
                    with contextlib.suppress(OSError):
                        connection.sendall(
                            json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode()
                            + b"\n"
                        )
                    connection.close()
            elif key.data == "connection":
                connection = key.fileobj  # type: ignore[assignment]
                assert isinstance(connection, socket.socket)
                with contextlib.suppress(OSError):
                    if connection.recv(1):
                        continue
                # The test side hung up without waiting for its server: stop the server.
                pid = connections.pop(connection)
                selector.unregister(connection)
                connection.close()
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


class _Fd:
    """A bare file descriptor the child must close."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


def _read_request(connection: socket.socket) -> dict[str, Any] | None:
    connection.settimeout(10)
    data = b""
    try:
        while not data.endswith(b"\n"):
            chunk = connection.recv(65536)
            if not chunk:
                return None
            data += chunk
    except OSError:
        return None
    connection.settimeout(None)
    return json.loads(data)


if __name__ == "__main__":
    _serve(sys.argv[1])
