"""What one Telegram update means to the helpdesk, in plain data (no aiogram types), so storing
it needs nothing from aiogram."""

from __future__ import annotations

from dataclasses import dataclass

from helpdesk.messages import InboundMessage


@dataclass(frozen=True, slots=True)
class Sender:
    address: str
    name: str
    username: str | None
    language: str | None


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message (or a tapped button) to store. `edit_of` names the edited message's id."""

    message: InboundMessage
    sender: Sender
    edit_of: str | None = None
    callback_query_id: str | None = None


@dataclass(frozen=True, slots=True)
class Start:
    """`/start`, maybe with a deep-link payload (a linking code)."""

    chat_id: int
    sender: Sender
    payload: str = ""


@dataclass(frozen=True, slots=True)
class Skipped:
    """An update that is not stored as a message, and why."""

    reason: str
    raw: str = ""


Translation = Incoming | Start | Skipped
