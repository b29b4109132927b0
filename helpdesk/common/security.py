"""Password hashing (argon2) and signed, expiring tokens (itsdangerous)."""

from __future__ import annotations

import asyncio
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

_hasher = PasswordHasher()
# Verifying against this when the account does not exist keeps timing from revealing emails.
_DUMMY_HASH = _hasher.hash("helpdesk-no-such-account")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


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
        except BadSignature:
            raise TokenError("token invalid") from None
        if not isinstance(payload, dict):
            raise TokenError("token invalid")
        return payload
