"""The wheel, as `pip install .` builds it, installed (not editable) into a fresh venv: every
template ships and renders from the installed package, an operator's folder replaces one file
and no other, and `helpdesk demo` serves from the venv and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import site
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.postgres import free_port
from tests.support.server import REPO_ROOT

SHIPPED = REPO_ROOT / "templates"

HISTORY = [{"when": "2026-03-01 10:00 UTC", "who": "you", "lines": ["My <printer> is", "broken"]}]
REPLY = {
    "text": "Try <b>this</b> & restart",
    "html": None,
    "author_name": "Alice",
    "team_name": "Support",
    "ticket_number": 42,
    "history": HISTORY,
}
# Each template's context and a piece of what it must render (escaped in HTML, as written in text).
RENDERED: dict[str, tuple[dict[str, Any], str]] = {
    "chat_demo.html": (
        {"public_url": "https://help.example.test"},
        '<script src="https://help.example.test/widget.js" async></script>',
    ),
    "email_ack.txt": (
        {"ticket_number": 42, "subject": "Broken <printer>", "expected_answer": "within a day"},
        'opened ticket #42 ("Broken <printer>").\n\nWe usually answer within a day.',
    ),
    "ticket_merged.txt": (
        {"merged_number": 7, "merged_subject": "A <b>", "ticket_number": 42, "subject": "B & C"},
        'Your request #7 ("A <b>") is now handled together with #42 ("B & C").',
    ),
    "email_reply.html": (REPLY, "Try &lt;b&gt;this&lt;/b&gt; &amp; restart"),
    "email_reply.txt": (REPLY, "Try <b>this</b> & restart\n\n-- \nAlice\n"),
    "telegram/greeting.html": ({"name": "Ann & Bob"}, "Hello, Ann &amp; Bob!"),
    "telegram/link_result.html": ({"result": "linked"}, "is now linked to your customer account"),
    "telegram/message.html": (
        {"header": True, "author_name": "Alice", "text": "1 < 2"},
        "<b>Alice</b>\n1 &lt; 2",
    ),
    "canned/thanks.txt": (
        {"customer_name": "Ann", "subject": "<b>", "agent_name": "Alice"},
        'Hello Ann,\n\nThank you for getting in touch about "<b>".',
    ),
    "email_code.txt": ({"code": "123456", "minutes": 15}, "Your code is 123456"),
    "email_survey.txt": (
        {"ticket_number": 42, "links": [(5, "https://h.test/s/a?score=5")]},
        "5 *****  https://h.test/s/a?score=5",
    ),
    "email_survey.html": (
        {"ticket_number": 42, "links": [(1, "https://h.test/s/a?x=1&score=1")]},
        'href="https://h.test/s/a?x=1&amp;score=1"',
    ),
    "canned/solved.txt": (
        {"customer_name": "Ann", "ticket_number": 42, "agent_name": "Alice"},
        "If anything about ticket #42 is still not right",
    ),
}
# The workspace's pages render objects (tickets, pages of the queue), not JSON: they must ship,
# and the installed demo serves the sign-in page from them (the browser tests render the rest).
PAGES = sorted(
    [
        *(
            f"workspace/{name}"
            for name in (
                "base.html",
                "signin.html",
                "queue.html",
                "queue_list.html",
                "ticket.html",
                "ticket_messages.html",
                "not_found.html",
                "dashboard.html",
                "dashboard_escalations.html",
                "dashboard_refused.html",
                *(
                    f"admin/{page}.html"
                    for page in (
                        "agents",
                        "article",
                        "articles",
                        "customers",
                        "index",
                        "nav",
                        "routing",
                        "sla",
                    )
                ),
            )
        ),
        "satisfaction_page.html",
    ]
)
REPLACED = "telegram/greeting.html"

# Run in the venv: render every named template through the installed package, first as shipped,
# then with the operator's folder; print where each came from and what it rendered.
RENDER_SCRIPT = """
import json, sys
from pathlib import Path
from helpdesk.templating import Templates

request = json.load(sys.stdin)
result = {}
for label, folder in (("shipped", None), ("override", request["override"])):
    templates = Templates(Path(folder) if folder else None)
    for name, context in request["contexts"].items():
        # Strict, so a context that misses a value fails here instead of rendering a gap.
        environment = templates.environment(autoescape=name.endswith(".html"), strict=True)
        template = environment.get_template(name)
        result.setdefault(label, {})[name] = [template.filename, template.render(**context)]
json.dump(result, sys.stdout)
"""

# Left out of the copy the wheel is built from: a stale `build/` would put files removed from
# the source into the wheel, and none of these belong in it.
NOT_BUILT_FROM = shutil.ignore_patterns(
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".venv",
    "helpdesk-data",
    "test-artifacts",
    ".pytest_cache",
    ".ruff_cache",
    ".schemathesis",
)


@dataclass(frozen=True)
class Venv:
    root: Path
    purelib: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def run(self, *args: str | Path, stdin: str = "", timeout: float = 120) -> str:
        done = subprocess.run(
            [self.python, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.root,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH (it names this checkout) and no settings from the calling shell."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("HELPDESK_", "PYTHON", "VIRTUAL"))
    }
    return {**env, "PYTHONNOUSERSITE": "1", **extra}


def _build_wheel(workdir: Path) -> Path:
    source = workdir / "source"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_BUILT_FROM)
    dist = workdir / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source],
        check=True,
        env=_clean_env(),
        cwd=workdir,
        timeout=300,
    )
    (wheel,) = dist.glob("helpdesk-*.whl")
    return wheel


def _make_venv(root: Path) -> Venv:
    """A venv whose only helpdesk is the wheel's. The dependencies are the running interpreter's,
    reached by a .pth file listing its site-packages folders: unlike --system-site-packages this
    works when the tests themselves run in a venv, and the .pth files in those folders (the
    editable install's import hook among them) are not run, so nothing can shadow the wheel."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", root], check=True, timeout=120)
    env = _clean_env()
    ask = "import sysconfig; print(sysconfig.get_path('purelib'))"
    answer = subprocess.run(
        [root / "bin" / "python", "-c", ask], capture_output=True, text=True, check=True, env=env
    )
    purelib = Path(answer.stdout.strip())
    outer = [*site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        outer.append(site.getusersitepackages())
    (purelib / "outer_site_packages.pth").write_text(
        "".join(f"{folder}\n" for folder in outer if Path(folder).is_dir())
    )
    return Venv(root, purelib, env)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    workdir = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(workdir)
    venv = _make_venv(workdir / "venv")
    # The running interpreter's pip, installing into the venv; --ignore-installed, because it
    # sees the developer's editable helpdesk through the .pth and would keep it.
    venv.run("-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", wheel)
    where = venv.run("-c", "import helpdesk; print(helpdesk.__file__)").strip()
    assert Path(where) == venv.purelib / "helpdesk" / "__init__.py"
    return venv


def test_every_template_ships_and_an_operator_file_replaces_only_itself(venv: Venv, tmp_path: Path):
    files = [p for p in SHIPPED.rglob("*") if p.is_file()]
    in_repository = sorted(p.relative_to(SHIPPED).as_posix() for p in files)
    assert sorted([*RENDERED, *PAGES]) == in_repository, "give each template a context in RENDERED"
    override = tmp_path / "operator"
    (override / "telegram").mkdir(parents=True)
    (override / REPLACED).write_text("Hi {{ name }}, from the operator.\n")

    request = {"override": str(override), "contexts": {n: c for n, (c, _) in RENDERED.items()}}
    result = json.loads(venv.run("-c", RENDER_SCRIPT, stdin=json.dumps(request)))

    installed = venv.purelib / "helpdesk" / "templates"
    for name in PAGES:
        assert (installed / name).read_text() == (SHIPPED / name).read_text()
    for name, (_, expected) in RENDERED.items():
        filename, text = result["shipped"][name]
        assert Path(filename) == installed / name
        assert expected in text, f"{name} rendered:\n{text}"
        if name != REPLACED:
            assert result["override"][name] == result["shipped"][name]
    filename, text = result["override"][REPLACED]
    assert (Path(filename), text) == (override / REPLACED, "Hi Ann &amp; Bob, from the operator.")


def test_the_installed_demo_serves_and_stops_on_sigterm(venv: Venv, tmp_path: Path):
    port = free_port()
    env = {
        **venv.env,
        "HELPDESK_DATA_DIR": str(tmp_path / "data"),
        "HELPDESK_PORT": str(port),
        # Info, for uvicorn's word that the shutdown finished.
        "HELPDESK_LOG_LEVEL": "info",
    }
    log = (tmp_path / "demo.log").open("w+")
    demo = subprocess.Popen(
        [venv.root / "bin" / "helpdesk", "demo"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert demo.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, "no health answer in 60 s"
            try:
                if httpx.get(f"{base}/api/health", timeout=1).json()["status"] == "ok":
                    break
            except (httpx.HTTPError, ValueError):
                time.sleep(0.1)
        page = httpx.get(f"{base}/chat", timeout=5)
        assert page.status_code == 200
        assert f'<script src="{base}/widget.js" async></script>' in page.text
        # The workspace's sign-in page and script, from the installed templates and files.
        signin = httpx.get(f"{base}/workspace", timeout=5, follow_redirects=True)
        assert signin.status_code == 200
        assert signin.url.path == "/signin" and "<h1>Sign in</h1>" in signin.text
        script = httpx.get(f"{base}/workspace/static/workspace.js", timeout=5)
        assert script.status_code == 200 and "EventSource" in script.text
    finally:
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(20)
        log.close()
    printed = Path(log.name).read_text()
    # uvicorn raises the signal again once it has shut down, so the exit status tells the caller.
    assert code in (0, -signal.SIGTERM), printed
    assert "Application shutdown complete." in printed, printed
    assert "Traceback" not in printed and " ERROR " not in printed, printed
