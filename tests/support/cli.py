"""Run `helpdesk COMMAND` as an operator would: a process of its own, with this checkout's code."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from tests.support.server import REPO_ROOT


async def run_cli(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        **env,
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "helpdesk", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
