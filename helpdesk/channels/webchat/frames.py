"""What a chat frame handler raises when the customer's frame cannot be used."""

from __future__ import annotations


class FrameError(Exception):
    """A frame the customer sent cannot be used; answered with an `error` frame."""

    def __init__(self, code: str, message: str, client_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_id = client_id
