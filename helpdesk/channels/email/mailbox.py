"""One IMAP mailbox: connect, import what is new, acknowledge on the server, wait, repeat.

Waits with IDLE where the server offers it and polls otherwise; reconnects with exponential
backoff and jitter. Mail is marked (\\Seen or moved) only after its import has committed; what a
crash leaves unmarked is marked on the next connect, found by the committed checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import ssl
from dataclasses import dataclass
from datetime import datetime

import aioimaplib

from helpdesk.channels.email.imap_client import CONNECTION_LOST, ImapClient
from helpdesk.channels.email.importer import ImportResult, MailImporter, Prepared, RawMail
from helpdesk.channels.email.models import EmailCheckpoint
from helpdesk.channels.email.settings import EmailSettings, MailboxSettings
from helpdesk.common.background import BackgroundTask
from helpdesk.common.clock import Clock
from helpdesk.storage.database import Database

log = logging.getLogger(__name__)

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FETCH_UID = re.compile(rb"UID (\d+)")
UID_SET_CHUNK = 500


class ImapError(Exception):
    """The server said NO or BAD, or answered something we cannot use."""


@dataclass(slots=True)
class MailboxStatus:
    name: str
    connected: bool = False
    idle: bool = False
    last_import_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    imported: int = 0
    quarantined: int = 0
    # When the mailbox was last seen holding no mail left to import (its lag is the time since).
    caught_up_at: datetime | None = None


class MailboxWorker:
    def __init__(
        self,
        mailbox: MailboxSettings,
        settings: EmailSettings,
        db: Database,
        clock: Clock,
        importer: MailImporter,
    ) -> None:
        self.mailbox = mailbox
        self._settings = settings
        self._db = db
        self._clock = clock
        self._importer = importer
        self.status = MailboxStatus(mailbox.name)
        # Reset only by a sync that got through, not by a login: a mailbox that logs in and
        # then fails every time must wait longer and longer.
        self._failures = 0
        self._task = BackgroundTask(f"mailbox:{mailbox.name}", self._run)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()
        self.status.connected = self.status.idle = False

    async def _run(self) -> None:
        while True:
            imap: ImapClient | None = None
            try:
                imap = await self._connect()
                self.status.connected, self.status.last_error = True, None
                await self._serve(imap)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failures += 1
                self.status.connected = self.status.idle = False
                self.status.last_error = f"{type(exc).__name__}: {exc}"[:500]
                self.status.last_error_at = self._clock.now()
                delay = min(
                    self._settings.reconnect_min_seconds * 2 ** min(self._failures - 1, 30),
                    self._settings.reconnect_max_seconds,
                ) * random.uniform(0.5, 1.0)
                log.warning(
                    "mailbox %s: %s; reconnecting in %.1f s",
                    self.mailbox.name,
                    self.status.last_error,
                    delay,
                )
                await asyncio.sleep(delay)
            finally:
                if imap is not None:
                    await _close(imap)

    async def _connect(self) -> ImapClient:
        box = self.mailbox
        timeout = max(30.0, box.idle_seconds + 30)
        context = self._tls_context() if box.tls == "implicit" else None
        imap = ImapClient(box.host, box.port, timeout=timeout, ssl_context=context)
        await imap.wait_hello_from_server()
        if box.tls == "starttls":
            _ok(
                await imap.protocol.execute(aioimaplib.Command("STARTTLS", imap.protocol.new_tag()))
            )
            await _upgrade_to_tls(imap, self._tls_context(), box.host)
        _ok(await imap.login(box.user, box.password.get_secret_value()), "login")
        return imap

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.mailbox.ca_file)
        if not self.mailbox.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def _serve(self, imap: ImapClient) -> None:
        box = self.mailbox
        if box.after_import == "move":
            # Creating a folder that exists fails harmlessly.
            await imap.create(box.move_to)
        response = _ok(await imap.select(box.folder), f"select {box.folder}")
        uidvalidity = _uidvalidity(response.lines)
        await self.sync(imap, uidvalidity)
        idle = imap.has_capability("IDLE")
        while True:
            if idle:
                self.status.idle = True
                await self._idle(imap)
            else:
                await asyncio.sleep(box.poll_seconds)
                _ok(await imap.noop(), "noop")
            await self.sync(imap, uidvalidity)

    async def _idle(self, imap: ImapClient) -> None:
        waiting = await imap.idle_start(timeout=self.mailbox.idle_seconds)
        try:
            # Mail announced just before the server acknowledged IDLE would otherwise wait.
            await imap.protocol.wait_for_idle_response()
            while not imap.take_new_mail_notice():
                lines = await imap.wait_server_push(timeout=self.mailbox.idle_seconds)
                if lines is CONNECTION_LOST:
                    raise ImapError("the server closed the connection")
                if lines == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    return
                if any(b"EXISTS" in _bytes(line) for line in _as_list(lines)):
                    return
        except TimeoutError:
            return
        finally:
            if imap.protocol.lost:
                waiting.cancel()  # nobody will answer on a closed connection
            else:
                if imap.has_pending_idle():
                    imap.idle_done()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiting, 30)

    async def sync(self, imap: ImapClient, uidvalidity: int) -> None:
        imap.take_new_mail_notice()
        last_uid = await self._checkpoint(uidvalidity)
        if last_uid:
            await self._acknowledge_leftovers(imap, last_uid)
        response = _ok(await imap.uid_search(f"UID {last_uid + 1}:*"), "search")
        uids = sorted(int(u) for u in b" ".join(response.lines[:-1]).split() if u.isdigit())
        uids = [u for u in uids if u > last_uid]
        size = self.mailbox.fetch_batch
        chunks = [uids[start : start + size] for start in range(0, len(uids), size)]
        if not chunks:
            self._failures = 0
            self.status.caught_up_at = self._clock.now()
            return
        # Three stages overlap: the next batch is fetched and parsed, this one is stored, the
        # previous one is marked on the server (only ever after its commit).
        preparing = asyncio.create_task(self._prepare(imap, chunks[0]))
        marking: asyncio.Task[None] | None = None
        try:
            for position in range(len(chunks)):
                prepared = await preparing
                if position + 1 < len(chunks):
                    preparing = asyncio.create_task(self._prepare(imap, chunks[position + 1]))
                result = await self._store(prepared, uidvalidity)
                self.status.imported += result.imported
                self.status.quarantined += result.quarantined
                self.status.last_import_at = self._clock.now()
                if marking is not None:
                    await marking
                marking = asyncio.create_task(self._acknowledge(imap, prepared.uids))
            if marking is not None:
                await marking
            self._failures = 0
            self.status.caught_up_at = self._clock.now()
        finally:
            for task in (preparing, marking):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _store(self, prepared: Prepared, uidvalidity: int) -> ImportResult:
        try:
            return await self._importer.store(self.mailbox.name, prepared, uidvalidity=uidvalidity)
        except Exception as exc:
            # One mail may be the cause: find it, so the rest go in and it alone is set aside.
            log.warning(
                "mailbox %s: a batch of %d failed (%s: %s); storing them one by one",
                self.mailbox.name,
                len(prepared.items),
                type(exc).__name__,
                exc,
            )
            return await self._importer.store_each(
                self.mailbox.name, prepared, uidvalidity=uidvalidity
            )

    async def _prepare(self, imap: ImapClient, uids: list[int]) -> Prepared:
        return await self._importer.prepare(await self._fetch(imap, uids))

    async def _checkpoint(self, uidvalidity: int) -> int:
        async with self._db.read() as session:
            checkpoint = await session.get(EmailCheckpoint, self.mailbox.name)
        if checkpoint is None:
            return 0
        if checkpoint.uidvalidity != uidvalidity:
            # The server renumbered the folder: read it all again; duplicates are recognised by
            # Message-ID (or content digest), so nothing is stored twice.
            log.warning(
                "mailbox %s: UIDVALIDITY changed (%d -> %d); re-reading the folder",
                self.mailbox.name,
                checkpoint.uidvalidity,
                uidvalidity,
            )
            return 0
        return checkpoint.last_uid

    async def _fetch(self, imap: ImapClient, uids: list[int]) -> list[RawMail]:
        response = _ok(await imap.uid("fetch", _uid_set(uids), "(UID BODY.PEEK[])"), "fetch")
        mails: list[RawMail] = []
        pending_uid: int | None = None
        for line in response.lines:
            if isinstance(line, bytearray):
                if pending_uid is not None:
                    mails.append(RawMail(pending_uid, bytes(line)))
                    pending_uid = None
                continue
            found = _FETCH_UID.search(line)
            if found and b"FETCH" in line:
                pending_uid = int(found[1])
        fetched = {m.uid for m in mails}
        missing = [u for u in uids if u not in fetched]
        if missing:
            # Expunged between SEARCH and FETCH: nothing to import, and the checkpoint moves on.
            log.info("mailbox %s: UIDs %s vanished before fetch", self.mailbox.name, missing[:10])
        return mails

    async def _acknowledge(self, imap: ImapClient, uids: list[int]) -> None:
        if not uids:
            return
        for start in range(0, len(uids), UID_SET_CHUNK):
            uid_set = _uid_set(uids[start : start + UID_SET_CHUNK])
            if self.mailbox.after_import == "move":
                await self._move(imap, uid_set)
            else:
                _ok(await imap.uid("store", uid_set, "+FLAGS.SILENT", "(\\Seen)"), "store")

    async def _move(self, imap: ImapClient, uid_set: str) -> None:
        target = self.mailbox.move_to
        if imap.has_capability("MOVE"):
            _ok(await imap.uid("move", uid_set, target), "move")
            return
        _ok(await imap.uid("copy", uid_set, target), "copy")
        _ok(await imap.uid("store", uid_set, "+FLAGS.SILENT", "(\\Deleted)"), "store")
        _ok(await imap.expunge(), "expunge")

    async def _acknowledge_leftovers(self, imap: ImapClient, last_uid: int) -> None:
        """Mail imported before a crash but not yet marked on the server."""
        criteria = f"UID 1:{last_uid}" + (" UNSEEN" if self.mailbox.after_import == "seen" else "")
        response = _ok(await imap.uid_search(criteria), "search")
        uids = [int(u) for u in b" ".join(response.lines[:-1]).split() if u.isdigit()]
        await self._acknowledge(imap, sorted(u for u in uids if u <= last_uid))


def _ok(response: aioimaplib.Response, what: str = "command") -> aioimaplib.Response:
    if response.result != "OK":
        detail = b" ".join(_bytes(line) for line in response.lines[-2:]).decode("utf-8", "replace")
        raise ImapError(f"{what} failed: {response.result} {detail}")
    return response


def _uidvalidity(lines: list[bytes]) -> int:
    for line in lines:
        found = _UIDVALIDITY.search(_bytes(line))
        if found:
            return int(found[1])
    raise ImapError("the server sent no UIDVALIDITY on SELECT")


def _uid_set(uids: list[int]) -> str:
    """`1:5,8,10:12`: short commands for long runs of UIDs."""
    parts: list[str] = []
    run_start = previous = None
    for uid in sorted(uids):
        if previous is not None and uid == previous + 1:
            previous = uid
            continue
        if run_start is not None:
            parts.append(f"{run_start}:{previous}" if previous != run_start else str(run_start))
        run_start = previous = uid
    if run_start is not None:
        parts.append(f"{run_start}:{previous}" if previous != run_start else str(run_start))
    return ",".join(parts)


def _bytes(line: object) -> bytes:
    return bytes(line) if isinstance(line, bytes | bytearray) else str(line).encode()


def _as_list(lines: object) -> list[object]:
    return list(lines) if isinstance(lines, list | tuple) else [lines]


async def _upgrade_to_tls(imap: ImapClient, context: ssl.SSLContext, host: str) -> None:
    loop = asyncio.get_running_loop()
    protocol = imap.protocol
    transport = protocol.transport
    protocol.transport = await loop.start_tls(transport, protocol, context, server_hostname=host)
    await imap.protocol.capability()


async def _close(imap: ImapClient) -> None:
    if imap.protocol.lost:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(imap.logout(), 5)
