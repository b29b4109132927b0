"""Slows password guessing, in the database so that every process counts the same attempts.

Three limits, each over `login_window_minutes`:

- one account from one address: after `max_failures_per_account_and_address` failures that pair
  waits; other accounts on the address and the account elsewhere are not affected;
- one address over all accounts (spraying): past `max_failures_per_address` the address may
  still log in to accounts that logged in from it before, and no others;
- one account over all addresses (a botnet): past `max_failures_per_account` the account may
  still be used from its known addresses, and no others.

So nobody can lock an agent out from where they usually work by failing on purpose, except from
their very own address and account. An attempt is written as a failure before the password is
checked, so parallel guesses count too; a success turns it into a success and clears the pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.staff.models import LoginAttempt
from helpdesk.staff.settings import AccountSettings

security_log = logging.getLogger("helpdesk.security")
# Old attempts deleted per login at most: housekeeping stays small under a flood.
PRUNE_BATCH = 200


@dataclass(frozen=True, slots=True)
class Refusal:
    retry_after: float
    reason: str


class LoginThrottle:
    def __init__(self, settings: AccountSettings) -> None:
        self._settings = settings
        self._window = timedelta(minutes=settings.login_window_minutes)
        self._known = timedelta(days=settings.known_address_days)

    async def refusal(
        self, session: AsyncSession, email: str, address: str, now: datetime
    ) -> Refusal | None:
        """Why this attempt must wait, or None if it may go ahead."""
        settings = self._settings
        failures = and_(LoginAttempt.at > now - self._window, LoginAttempt.succeeded.is_(False))
        pair = and_(LoginAttempt.email == email, LoginAttempt.address == address)
        pair_limit = settings.max_failures_per_account_and_address
        waited = await self._over(session, and_(failures, pair), pair_limit, now)
        if waited:
            return Refusal(waited, "too many failures for this account from this address")
        known = await session.scalar(
            select(
                exists().where(
                    pair, LoginAttempt.succeeded.is_(True), LoginAttempt.at > now - self._known
                )
            )
        )
        if known:
            return None
        by_address = and_(failures, LoginAttempt.address == address)
        waited = await self._over(session, by_address, settings.max_failures_per_address, now)
        if waited:
            return Refusal(waited, "too many failures from this address over several accounts")
        by_account = and_(failures, LoginAttempt.email == email)
        waited = await self._over(session, by_account, settings.max_failures_per_account, now)
        if waited:
            return Refusal(waited, "too many failures for this account from several addresses")
        return None

    async def _over(
        self, session: AsyncSession, where: ColumnElement[bool], limit: int, now: datetime
    ) -> float:
        count, oldest = (
            await session.execute(select(func.count(), func.min(LoginAttempt.at)).where(where))
        ).one()
        if count < limit or oldest is None:
            return 0.0
        # Approximate: the wait ends when the oldest counted failure leaves the window.
        return max(1.0, (oldest + self._window - now).total_seconds())

    async def attempt(self, session: AsyncSession, email: str, address: str, now: datetime) -> int:
        """Write the attempt as a failure before the password is checked; returns its id."""
        # Forget what no limit reads any more: failures past the window, successes past
        # `known_address_days`. Rows another login is deleting are skipped, never waited for.
        stale = or_(
            and_(LoginAttempt.at < now - self._window, LoginAttempt.succeeded.is_(False)),
            LoginAttempt.at < now - self._known,
        )
        await session.execute(
            delete(LoginAttempt).where(
                LoginAttempt.id.in_(
                    select(LoginAttempt.id)
                    .where(stale)
                    .limit(PRUNE_BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
        )
        row = LoginAttempt(email=email, address=address[:64], at=now, succeeded=False)
        session.add(row)
        await session.flush()
        return row.id

    async def succeeded(
        self, session: AsyncSession, attempt_id: int, email: str, address: str
    ) -> None:
        await session.execute(
            update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(succeeded=True)
        )
        await session.execute(
            delete(LoginAttempt).where(
                LoginAttempt.email == email,
                LoginAttempt.address == address[:64],
                LoginAttempt.succeeded.is_(False),
            )
        )


def log_failed_login(email: str, address: str, reason: str) -> None:
    """A security event: operators alert on the `helpdesk.security` logger."""
    security_log.warning("login failed: account %r from %s: %s", email[:254], address, reason)
