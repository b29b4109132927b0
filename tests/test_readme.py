"""The README's test command is the one CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- test-command -->", 1)[1].split("<!-- /test-command -->", 1)[0]
    command = next(line for line in block.splitlines() if line and not line.startswith("```"))
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


def _readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- test-command -->", 1)[1].split("<!-- /test-command -->", 1)[0]
    return next(line for line in block.splitlines() if line and not line.startswith("```"))


def test_the_testing_page_names_every_test_file_and_the_command():
    page = (ROOT / "docs" / "testing.md").read_text()
    missing = [p.name for p in sorted((ROOT / "tests").glob("test_*.py")) if p.name not in page]
    assert missing == []
    assert _readme_test_command() in page


def test_documents_stay_inside_the_repository():
    """Every relative link in the README and docs/ points at a file of this repository, and no
    document names a path outside it (`../shared/...`)."""
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    problems = []
    for document in documents:
        text = document.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (document.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                problems.append(f"{document.name}: {target}")
        for outside in re.findall(r"`(\.\./[^`]*)`", text):
            if not (document.parent / outside).resolve().is_relative_to(ROOT):
                problems.append(f"{document.name}: {outside}")
    assert problems == []
