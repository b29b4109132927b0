"""A real Dovecot IMAP server in the foreground, on loopback, with its own config and mail dir.

Dovecot will not store mail as root, so the mail files belong to the `mail` system user that
Debian always has; the folder lives outside pytest's root-only tmp dir so that user can reach it.

One server serves the whole session: each test gets a `Mailbox`, a user of its own (and so an
empty mail folder of its own), where starting and stopping a server per test cost about a
second each. The users are written before the server starts: Dovecot notices a changed users
file only on a lookup in a later second than the last one, so a user added while it runs could
be refused for up to a second.
"""

from __future__ import annotations

import email.policy
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import aioimaplib

from tests.support.postgres import free_port

MAIL_USER = "mail"

_CONFIG = """\
base_dir = {d}/run
state_dir = {d}/run/state
instance_name = helpdesk-test-{port}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {d}/dovecot.log
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:{d}/mail/%u/Maildir
mail_uid = {user}
mail_gid = {user}
first_valid_uid = 1
first_valid_gid = 1
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid={user} gid={user} home={d}/mail/%u
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
"""


@dataclass(frozen=True)
class Mailbox:
    """One IMAP account on a Dovecot server. Its login has no "@", so the helpdesk's own
    addresses stay just the configured `from_address` (it counts a login with an "@" as one of
    its own addresses too), as when the login was that address."""

    server: DovecotServer
    user: str
    password: str

    @property
    def port(self) -> int:
        return self.server.port


_TLS = """\
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
service imap-login {{
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
"""


class DovecotServer:
    def __init__(self, password: str, accounts: int = 200, *, tls: bool = False) -> None:
        """`accounts` users, each with `password`, wait to be handed out by `mailbox`. With
        `tls`, a certificate for 127.0.0.1 is made (`cert_file`), the plain port offers
        STARTTLS and `tls_port` speaks TLS from the first byte."""
        self.tls = tls
        self.tls_port = free_port() if tls else 0
        self.password = password
        self.users: dict[str, str] = {}
        self._add_users(accounts)
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="helpdesk-dovecot-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._handed_out = 0

    def start(self, timeout: float = 15.0) -> DovecotServer:
        self.dir.chmod(0o755)
        (self.dir / "mail").mkdir()
        shutil.chown(self.dir / "mail", MAIL_USER, MAIL_USER)
        self._write_users()
        config = self.dir / "dovecot.conf"
        text = _CONFIG.format(d=self.dir, port=self.port, user=MAIL_USER)
        if self.tls:
            make_certificate(self.dir)
            # Later settings win: TLS on, and the imaps listener given a port.
            text = text.replace("ssl = no\n", "") + _TLS.format(d=self.dir, tls_port=self.tls_port)
        config.write_text(text)
        return self._launch(timeout)

    @property
    def cert_file(self) -> Path:
        return self.dir / "cert.pem"

    def _write_users(self) -> None:
        # Written whole and renamed into place, so Dovecot never reads half a file.
        draft = self.dir / "users.new"
        draft.write_text(
            "".join(f"{user}:{{PLAIN}}{password}\n" for user, password in self.users.items())
        )
        draft.replace(self.dir / "users")

    def _add_users(self, count: int) -> None:
        start = len(self.users) + 1
        self.users.update({f"mailbox{n}": self.password for n in range(start, start + count)})

    def mailbox(self) -> Mailbox:
        """An account nobody has used yet, with an empty INBOX."""
        if self._handed_out == len(self.users):
            self._add_users(100)
            self._write_users()
            time.sleep(1.1)  # until Dovecot looks at the users file again (see above)
        self._handed_out += 1
        user = f"mailbox{self._handed_out}"
        return Mailbox(self, user, self.users[user])

    def _launch(self, timeout: float = 15.0) -> DovecotServer:
        config = self.dir / "dovecot.conf"
        self.process = subprocess.Popen(
            ["dovecot", "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "stderr.log").open("ab"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    if probe.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.03)
        raise RuntimeError(f"dovecot did not greet in {timeout} s: {self.log()}")

    def log(self) -> str:
        parts = [self.dir / "dovecot.log", self.dir / "stderr.log"]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())

    def halt(self) -> None:
        """Stop the server, keeping its mail (see `renumber`, `resume`)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def renumber(self, user: str) -> None:
        """Forget the folder's UIDs, as a restored or migrated mail server does: Dovecot then
        numbers the mail anew under a new UIDVALIDITY. Call while halted."""
        for state in (self.dir / "mail" / user / "Maildir").rglob("dovecot*"):
            if state.is_file():
                state.unlink()

    def resume(self) -> DovecotServer:
        self.process = None
        return self._launch()

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)


def make_certificate(folder: Path) -> None:
    """A fresh self-signed certificate (and key) for localhost and 127.0.0.1."""
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
            *("-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")),
        ],
        check=True,
        capture_output=True,
    )


class ImapClient:
    """What a sender's mail server (APPEND) and a curious test (flags, folders) do."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.imap: aioimaplib.IMAP4 | None = None

    async def __aenter__(self) -> ImapClient:
        self.imap = aioimaplib.IMAP4("127.0.0.1", self.mailbox.port, timeout=30)
        await self.imap.wait_hello_from_server()
        response = await self.imap.login(self.mailbox.user, self.mailbox.password)
        assert response.result == "OK", response
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.imap is not None
        await self.imap.logout()

    async def append(self, raw: bytes | EmailMessage, folder: str = "INBOX") -> None:
        assert self.imap is not None
        data = raw if isinstance(raw, bytes) else raw.as_bytes(policy=email.policy.SMTP)
        response = await self.imap.append(data, mailbox=folder)
        assert response.result == "OK", response

    async def create(self, folder: str) -> None:
        assert self.imap is not None
        await self.imap.create(folder)

    async def count(self, folder: str = "INBOX", criteria: str = "ALL") -> int:
        assert self.imap is not None
        await self.imap.select(folder)
        response = await self.imap.search(criteria)
        return len(response.lines[0].split())


def mail(
    sender: str,
    subject: str,
    body: str,
    *,
    to: str = "support@example.test",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message
