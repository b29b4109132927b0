"""The operator's view: commands, and an error naming the setting for every misconfiguration."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import free_port
from tests.support.server import REPO_ROOT


def helpdesk(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = ""):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    clean["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run(
        [sys.executable, "-m", "helpdesk", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "toml", "expected"),
    [
        ({"HELPDESK_PORT": "eighty"}, "", "HELPDESK_PORT (port in helpdesk.toml): Input should be"),
        ({"HELPDESK_PROT": "8000"}, "", "HELPDESK_PROT: unknown setting"),
        (
            {"HELPDESK_DATABASE_URL": "mysql://root:hunter2@db/helpdesk"},
            "",
            "unsupported database URL scheme 'mysql'",
        ),
        ({"HELPDESK_WEBCHAT__MAX_TEXT_BYTES": "0"}, "", "HELPDESK_WEBCHAT__MAX_TEXT_BYTES"),
        ({"HELPDESK_LOG_LEVEL": "loud"}, "", "must be one of critical, error"),
        ({"HELPDESK_SECRET_KEY": "hunter2"}, "", "must be at least 32 characters"),
        (
            {"HELPDESK_TEMPLATES_DIR": "our-templates"},
            "",
            "HELPDESK_TEMPLATES_DIR (templates_dir in helpdesk.toml): no such folder in",
        ),
        ({}, "[webchat]\nmax_txt_bytes = 5\n", "webchat.max_txt_bytes in helpdesk.toml"),
        ({}, "port = [\n", "cannot read configuration file helpdesk.toml"),
        (
            {"HELPDESK_CONFIG": "prod.toml"},
            "",
            "HELPDESK_CONFIG: the configuration file prod.toml (in ",
        ),
    ],
)
def test_a_wrong_setting_stops_start_up_naming_it(tmp_path: Path, env, toml, expected):
    if toml:
        (tmp_path / "helpdesk.toml").write_text(toml)
    result = helpdesk("serve", cwd=tmp_path, env=env)
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr
    assert "hunter2" not in result.stderr  # secrets are never echoed
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path):
    url = f"postgresql://helpdesk:hunter2@127.0.0.1:{free_port()}/helpdesk"
    result = helpdesk("serve", cwd=tmp_path, env={"HELPDESK_DATABASE_URL": url})
    assert result.returncode != 0
    assert "HELPDESK_DATABASE_URL: cannot use postgresql+asyncpg://helpdesk:***@" in result.stderr
    assert "Connect call failed" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_a_busy_port_is_reported(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = helpdesk("serve", "--port", str(port), cwd=tmp_path)
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_migrate_and_agent_add_then_the_agent_can_log_in(tmp_path: Path, database_url: str):
    env = {"HELPDESK_DATABASE_URL": database_url, "HELPDESK_DATA_DIR": str(tmp_path / "data")}
    assert "database is up to date" in helpdesk("migrate", cwd=tmp_path, env=env).stdout
    added = helpdesk(
        "agent",
        "add",
        "Dana@Example.test",
        "--name",
        "Dana",
        "--team",
        "Support",
        "--role",
        "supervisor",
        cwd=tmp_path,
        env=env,
        stdin="s3cret-pass\ns3cret-pass\n",
    )
    assert added.returncode == 0, added.stderr
    assert "agent dana@example.test added" in added.stdout
    again = helpdesk(
        "agent",
        "add",
        "dana@example.test",
        cwd=tmp_path,
        env={**env, "HELPDESK_AGENT_PASSWORD": "another-pass"},
    )
    assert again.returncode != 0 and "exists already" in again.stderr
    short = helpdesk(
        "agent",
        "add",
        "eve@example.test",
        cwd=tmp_path,
        env={**env, "HELPDESK_AGENT_PASSWORD": "short"},
    )
    assert short.returncode != 0 and "at least 8 characters" in short.stderr

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "helpdesk", "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, **env, "HELPDESK_LOG_LEVEL": "warning", "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            subprocess.run(["sleep", "0.05"], check=True)
        login = httpx.post(
            f"{base}/api/auth/login", json={"email": "DANA@example.test", "password": "s3cret-pass"}
        )
        assert login.status_code == 200
        agent = login.json()["agent"]
        assert (agent["name"], agent["role"], [t["name"] for t in agent["teams"]]) == (
            "Dana",
            "supervisor",
            ["Support"],
        )
        docs = httpx.get(f"{base}/openapi.json").json()
        assert "/api/tickets/{number}/reply" in docs["paths"]
    finally:
        server.terminate()
        server.wait(15)


def test_demo_seeds_and_prints_the_urls_and_logins(tmp_path: Path):
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "helpdesk", "demo", "--port", str(port)],
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")},
            "PYTHONPATH": str(REPO_ROOT),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = []
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if "carol@demo.test" in line:
                break
        printed = "".join(lines)
        assert f"http://127.0.0.1:{port}/chat" in printed and "demo-password" in printed
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                subprocess.run(["sleep", "0.05"], check=True)
        token = httpx.post(
            f"{base}/api/auth/login",
            json={"email": "supervisor@demo.test", "password": "demo-password"},
        ).json()["token"]
        queue = httpx.get(f"{base}/api/tickets", headers={"Authorization": f"Bearer {token}"})
        assert queue.json()["total"] == 4
        teams = httpx.get(f"{base}/api/teams", headers={"Authorization": f"Bearer {token}"})
        assert sorted(t["name"] for t in teams.json()) == ["Billing", "Support"]
        # The demo's knowledge base is indexed, so the bot and the suggestions work at once.
        found = httpx.get(
            f"{base}/api/kb/suggestions",
            params={"text": "I forgot my pasword"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert found[0]["title"] == "Reset your password"
        assert "<script" in httpx.get(f"{base}/chat").text
    finally:
        demo.terminate()
        demo.wait(15)
    assert (tmp_path / "helpdesk-data" / "helpdesk.db").exists()
