"""Password hashing (argon2) and signed, expiring tokens (itsdangerous)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

T = TypeVar("T")

_hasher = PasswordHasher()
# Verifying against this when the account does not exist keeps timing from revealing emails.
_DUMMY_HASH = _hasher.hash("helpdesk-no-such-account")


class PasswordHashingBusy(Exception):
    """More password checks are waiting than allowed; the caller should answer 503."""

    retry_after_seconds = 2


class _HashSlots:
    """Hashes run on a few threads of their own, at low CPU priority where the system allows,
    so a burst of logins neither starves the event loop nor takes 64 MiB per attempt; checks
    beyond the waiting room are refused at once instead of queueing without bound."""

    def __init__(self, concurrency: int = 1, queue: int = 16) -> None:
        self.configure(concurrency, queue)

    def configure(self, concurrency: int, queue: int) -> None:
        self._concurrency = concurrency
        self._capacity = concurrency + queue
        self._pending = 0
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, work: Callable[[], T]) -> T:
        if self._pending >= self._capacity:
            raise PasswordHashingBusy("too many logins at once; try again in a few seconds")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self._concurrency, "password-hash", initializer=_lower_priority
            )
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        finally:
            self._pending -= 1


def _lower_priority() -> None:
    # On Linux a thread id names one thread to setpriority, so only the hashing threads yield.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


hash_slots = _HashSlots()


async def hash_password(password: str) -> str:
    return await hash_slots.run(lambda: _hasher.hash(password))


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Raises PasswordHashingBusy when too many checks are already waiting."""

    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    return await hash_slots.run(check)


class TokenError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Signer:
    """Signs small payloads for one purpose; a token made for one purpose fails for another."""

    def __init__(self, secret_key: str, purpose: str, max_age_seconds: float) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=f"helpdesk.{purpose}")
        # itsdangerous counts ages in whole seconds, so truncating the limit changes no verdict.
        self._max_age = int(max_age_seconds)

    def sign(self, payload: dict[str, Any]) -> str:
        return self._serializer.dumps(payload)

    def load(self, token: str) -> dict[str, Any]:
        try:
            payload = self._serializer.loads(token, max_age=self._max_age)
        except SignatureExpired:
            raise TokenError("token expired") from None
        except (BadSignature, UnicodeEncodeError):
            raise TokenError("token invalid") from None
        if not isinstance(payload, dict):
            raise TokenError("token invalid")
        return payload
