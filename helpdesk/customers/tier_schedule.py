"""Recomputing tiers on a schedule (`customers.tier_recompute_hours`), in every process; the
recompute's lock lets one of them do it at a time."""

from __future__ import annotations

import asyncio
import logging

from helpdesk.common.background import BackgroundTask
from helpdesk.customers.tier_recompute import TierRecompute

log = logging.getLogger(__name__)


class TierSchedule:
    def __init__(self, recompute: TierRecompute, hours: float) -> None:
        self._recompute = recompute
        self._seconds = hours * 3600
        self._task = BackgroundTask("tier-recompute", self._run)

    def start(self) -> None:
        if self._seconds > 0:
            self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        # The first run waits a whole period: a restart is no reason to recompute.
        while True:
            await asyncio.sleep(self._seconds)
            try:
                outcome = await self._recompute.run(wait=False)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the scheduled tier recompute failed; the next one will try again")
                continue
            if outcome is None:
                log.info("tier recompute skipped: another run is under way")
            else:
                log.info(
                    "tiers recomputed: %d units, %d changed in %.1f s",
                    outcome.units,
                    outcome.changed,
                    outcome.seconds,
                )
