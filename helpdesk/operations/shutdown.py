"""Graceful shutdown on SIGTERM (and Ctrl-C), within `operations.shutdown_seconds`:

1. stop accepting connections;
2. close every chat socket with 1012 (service restart): the widget reconnects, through the load
   balancer to another process or to this one once it is back, and resends what was not acked;
3. let HTTP requests in progress finish (half of the budget);
4. stop the runtime: channels stop fetching, intake commits the batches it has taken (what it
   could not commit was never acknowledged), reactions and the outbox stop between items;
5. if all that has not ended when the budget is spent, the process exits anyway: everything
   acknowledged is committed by then, so this loses nothing (see docs/deployment.md#shutdown).
"""

from __future__ import annotations

import logging
import os
import socket
import threading

import uvicorn

from helpdesk.runtime import Runtime

log = logging.getLogger(__name__)

CLOSE_SERVICE_RESTART = 1012
FORCED_EXIT_STATUS = 70


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, runtime: Runtime, budget_seconds: float) -> None:
        super().__init__(config)
        self._runtime = runtime
        self._budget = budget_seconds
        self._watchdog: threading.Timer | None = None

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._watchdog = threading.Timer(self._budget, _force_exit, args=(self._budget,))
        self._watchdog.daemon = True
        self._watchdog.start()
        log.info("shutting down: at most %.0f s", self._budget)
        for server in self.servers:
            server.close()
        closed = await self._runtime.webchat.hub.close_all(
            CLOSE_SERVICE_RESTART, "server restarting: reconnect"
        )
        if closed:
            log.info("asked %d chat connections to reconnect", closed)
        await super().shutdown(sockets)

    def cancel_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()


def _force_exit(budget: float) -> None:
    log.error("shutdown took longer than %.0f s: exiting now; nothing acknowledged is lost", budget)
    logging.shutdown()
    os._exit(FORCED_EXIT_STATUS)
