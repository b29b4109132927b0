"""aioimaplib's client, remembering new-mail notices it would otherwise drop.

A server may announce new mail (`* N EXISTS`) between our commands, for example just before it
acknowledges IDLE. aioimaplib logs such untagged lines as ignored, and the mail would then wait
for the next IDLE renewal; this client notes them so the mailbox loop syncs at once.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

import aioimaplib
from aioimaplib.aioimaplib import Command, IMAP4ClientProtocol

# Put where IDLE waits for the server's pushes when the connection drops: aioimaplib itself
# would leave IDLE waiting until its timeout, the mailbox looking connected all the while.
CONNECTION_LOST = [b"connection lost"]


class _NoticingProtocol(IMAP4ClientProtocol):
    new_mail_noticed: bool = False
    lost: bool = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.idle_queue.put_nowait(CONNECTION_LOST)
        super().connection_lost(exc)

    def _untagged_response(self, line: bytes) -> Command:
        if line.rstrip().endswith(b"EXISTS"):
            self.new_mail_noticed = True
        return super()._untagged_response(line)


class ImapClient(aioimaplib.IMAP4):
    protocol: _NoticingProtocol

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Callable[[Exception | None], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        local_loop = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = _NoticingProtocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(
            local_loop.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )

    def take_new_mail_notice(self) -> bool:
        noticed, self.protocol.new_mail_noticed = self.protocol.new_mail_noticed, False
        return noticed
