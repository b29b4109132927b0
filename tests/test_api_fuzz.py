"""Property-based fuzzing of the whole agent API from its own OpenAPI schema: whatever a client
sends, the answer is never a server error."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD, People
from tests.support.server import HelpdeskServer


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_no_request_makes_the_server_fail(server: HelpdeskServer, tmp_path: Path):
    token = httpx.post(
        f"{server.base_url}/api/auth/login",
        json={"email": People().supervisor, "password": PASSWORD},
    ).json()["token"]
    executable = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    result = subprocess.run(
        [
            executable,
            "run",
            f"{server.base_url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            # An endless stream by design (the live feed); test_routing_e2e.py reads it.
            "--exclude-path",
            "/api/me/feed",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--seed",
            "20261123",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "unhandled error" not in server.log()
