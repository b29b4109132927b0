"""The settings reference in the docs is the Settings model's, word for word."""

from __future__ import annotations

from pathlib import Path

from helpdesk.operations.reference import render
from tests.support.cli import run_cli
from tests.support.server import REPO_ROOT

REFERENCE = REPO_ROOT / "docs" / "settings.md"


def test_the_committed_settings_reference_matches_the_model():
    assert REFERENCE.read_text(encoding="utf-8") == render(), (
        "docs/settings.md is out of date: run `helpdesk settings-reference`"
    )


def test_every_setting_is_in_the_reference():
    text = render()
    for variable in (
        "HELPDESK_PORT",
        "HELPDESK_EMAIL__SMTP__HOST",
        "HELPDESK_OPERATIONS__METRICS_TOKEN",
    ):
        assert f"`{variable}`" in text
    assert "`email.mailboxes[].password`" in text


async def test_the_command_writes_the_reference(tmp_path: Path):
    written = tmp_path / "settings.md"
    result = await run_cli("settings-reference", "--output", str(written))
    assert result.returncode == 0, result.stderr
    assert written.read_text(encoding="utf-8") == render()
