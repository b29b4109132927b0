"""What an operator meets on a first run: agents managed from the shell, files created private,
clear one-line errors, demo data refused outside a demo, the key shared through PostgreSQL, and
/docs that works without the internet."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpdesk.config import load_settings
from helpdesk.demo import seed_demo
from helpdesk.runtime import Runtime
from tests.support.server import REPO_ROOT, HelpdeskServer
from tests.test_cli import helpdesk


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_agents_are_managed_from_the_shell(tmp_path: Path, database_url: str):
    env = {"HELPDESK_DATABASE_URL": database_url, "HELPDESK_DATA_DIR": str(tmp_path / "data")}

    def run(*args: str, password: str | None = None) -> str:
        extra = {"HELPDESK_AGENT_PASSWORD": password} if password else {}
        result = helpdesk("agent", *args, cwd=tmp_path, env={**env, **extra})
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "no agents yet" in run("list")
    run("add", "root@example.test", "--role", "admin", "--team", "Support", password="pw-12345678")
    added = run("add", "dan@example.test", "--team", "  support ", password="pw-12345678")
    assert "in Support" in added  # "support" beside "Support" joins it
    listed = run("list")
    assert re.search(r"dan@example\.test\s+agent\s+active\s+Support\s", listed), listed
    assert "disabled; their sessions have ended" in run("disable", "DAN@example.test")
    assert re.search(r"dan@example\.test\s+agent\s+disabled", run("list"))
    assert "enabled" in run("enable", "dan@example.test")
    assert "now supervisor" in run("role", "dan@example.test", "supervisor")
    assert "password of dan@example.test changed" in run(
        "password", "dan@example.test", password="pw-87654321"
    )
    listed = run("list")
    assert re.search(r"dan@example\.test\s+supervisor\s+active", listed), listed

    def refused(*args: str, password: str = "pw-12345678") -> str:
        result = helpdesk(
            "agent", *args, cwd=tmp_path, env={**env, "HELPDESK_AGENT_PASSWORD": password}
        )
        assert result.returncode != 0 and "Traceback" not in result.stderr
        return result.stderr

    assert "no agent with email eve@example.test" in refused("disable", "eve@example.test")
    assert "only active admin" in refused("disable", "root@example.test")
    assert "published in the demo" in refused("add", "x@example.test", password="demo-password")
    assert "published in the demo" in refused(
        "password", "dan@example.test", password="demo-password"
    )


def test_files_are_private_from_the_start(tmp_path: Path):
    data = tmp_path / "data"
    old = os.umask(0o022)
    try:
        migrated = helpdesk("migrate", cwd=tmp_path, env={"HELPDESK_DATA_DIR": str(data)})
        assert migrated.returncode == 0, migrated.stderr
        assert mode(data) == 0o700
        assert mode(data / "helpdesk.db") == 0o600
        for extra in data.glob("helpdesk.db-*"):  # the WAL and shared-memory files
            assert mode(extra) == 0o600, extra
        settings = load_settings(data_dir=data / "fresh")
        settings.ensure_secret_key()
        assert mode(data / "fresh") == 0o700
        assert mode(data / "fresh" / "secret_key") == 0o600
        assert len((data / "fresh" / "secret_key").read_text()) >= 32
    finally:
        os.umask(old)


def test_where_the_database_is_is_said(tmp_path: Path):
    relative = helpdesk(
        "migrate", cwd=tmp_path, env={"HELPDESK_DATABASE_URL": "sqlite:///somewhere/desk.db"}
    )
    assert relative.returncode == 0, relative.stderr
    assert f"SQLite file {tmp_path / 'somewhere' / 'desk.db'}" in relative.stdout


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may write to (mode 0555)."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    yield locked
    locked.chmod(0o755)


def without_root_powers(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """helpdesk as a process that file permissions apply to: tests run as root, who may write
    anywhere, so the capabilities that override them are dropped before it starts."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    result = subprocess.run(
        [
            "setpriv",
            "--bounding-set",
            "-dac_override,-dac_read_search",
            "--",
            sys.executable,
            "-m",
            "helpdesk",
            *args,
        ],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(REPO_ROOT), **env},
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, result.stderr


def test_an_unwritable_data_dir_is_one_line_naming_it(unwritable_dir: Path):
    folder = unwritable_dir
    env = {"HELPDESK_DATA_DIR": str(folder / "data"), "HELPDESK_AGENT_PASSWORD": "pw-12345678"}
    for args in (("migrate",), ("agent", "add", "a@example.test"), ("serve",)):
        code, stderr = without_root_powers(*args, cwd=folder.parent, env=env)
        assert code != 0, args
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, (args, stderr)
        assert "HELPDESK_DATA_DIR: cannot write to the folder" in lines[0]
        assert str(folder) in lines[0] and "permission denied" in lines[0]
        assert "HELPDESK_DATABASE_URL" not in stderr


async def test_serve_refuses_demo_data_unless_it_is_a_demo(tmp_path: Path, database_url: str):
    data = tmp_path / "data"
    settings = load_settings(data_dir=data, database_url=database_url)
    runtime = Runtime(settings)
    await runtime.db.migrate()
    try:
        assert await seed_demo(runtime)
    finally:
        await runtime.db.dispose()
    env = {"HELPDESK_DATABASE_URL": database_url, "HELPDESK_DATA_DIR": str(data)}
    refused = helpdesk("serve", cwd=tmp_path, env=env)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "refusing to serve demo data" in refused.stderr
    assert "alice@demo.test" in refused.stderr and "HELPDESK_DEMO=true" in refused.stderr
    # Told it is a demo, it serves.
    demo = HelpdeskServer(tmp_path / "demo", database_url, HELPDESK_DEMO="true").start()
    try:
        async with httpx.AsyncClient(base_url=demo.base_url) as http:
            login = await http.post(
                "/api/auth/login", json={"email": "alice@demo.test", "password": "demo-password"}
            )
        assert login.status_code == 200
    finally:
        demo.stop()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_processes_on_postgresql_share_the_key_through_the_database(
    tmp_path: Path, database_url: str
):
    one = HelpdeskServer(tmp_path / "one", database_url, HELPDESK_SECRET_KEY="").start()
    two = HelpdeskServer(tmp_path / "two", database_url, HELPDESK_SECRET_KEY="").start()
    try:
        token = httpx.post(f"{one.base_url}/api/chat/sessions", json={}).json()["token"]
        renewed = httpx.post(f"{two.base_url}/api/chat/sessions", json={"token": token})
        assert renewed.status_code == 200, renewed.text
        for server in (one, two):
            assert "secret key: stored in the database, shared by every process" in server.log()
            assert not (server.data_dir / "secret_key").exists()
    finally:
        one.stop()
        two.stop()


def test_docs_work_offline_with_authorisation(tmp_path: Path):
    server = HelpdeskServer(tmp_path / "docs", f"sqlite:///{tmp_path / 'docs.db'}").start()
    try:
        # Start-up says where the data and the key are.
        assert f"database: SQLite file {tmp_path / 'docs.db'}" in server.log()
        assert "secret key: from the settings (HELPDESK_SECRET_KEY)" in server.log()
        page = httpx.get(f"{server.base_url}/docs")
        assert page.status_code == 200
        # Nothing loaded from elsewhere, and no inline script.
        assert not re.search(r"(src|href)=\"(https?:)?//", page.text), page.text
        assert "<script>" not in page.text
        for src in re.findall(r"(?:src|href)=\"(/docs/assets/[^\"]+)\"", page.text):
            asset = httpx.get(f"{server.base_url}{src}")
            assert asset.status_code == 200 and len(asset.content) > 100, src
        bundle = httpx.get(f"{server.base_url}/docs/assets/swagger-ui-bundle.js")
        assert "SwaggerUIBundle" in bundle.text
        schema = httpx.get(f"{server.base_url}/openapi.json").json()
        schemes = schema["components"]["securitySchemes"]
        assert schemes["session"] == {
            "type": "http",
            "scheme": "bearer",
            "description": "The `token` from POST /api/auth/login",
        }
        assert schemes["csrf"]["in"] == "header" and schemes["csrf"]["name"] == "X-CSRF-Token"
        reply = schema["paths"]["/api/tickets/{number}/reply"]["post"]
        assert {"session": []} in reply["security"] and {"csrf": []} in reply["security"]
    finally:
        server.stop()
