"""Escalation notices to staff on Telegram, for those who linked their account
(`staff_linking.py`). The bot loads lazily, so the notifier asks for it at each notice."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from html import escape
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.telegram import staff_linking
from helpdesk.staff.models import Agent

if TYPE_CHECKING:
    from helpdesk.channels.telegram.service import TelegramChannel

log = logging.getLogger(__name__)


class TelegramStaffNotifier:
    name = "telegram"

    def __init__(self, channel: Callable[[], Awaitable[TelegramChannel | None]]) -> None:
        self._channel = channel

    async def notify(self, session: AsyncSession, agent: Agent, subject: str, text: str) -> None:
        # aiogram loads with the bot, in the background at start-up; not before it is needed.
        from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError

        link = await staff_linking.linked_user(session, agent.id)
        if link is None:
            return
        channel = await self._channel()
        if channel is None:
            # The bot did not start (a wrong token, say); email still carries the notice.
            log.warning("Telegram notice to agent %s not sent: the bot is not running", agent.id)
            return
        try:
            await channel.bot.send_message(
                int(link.user_id), f"<b>{escape(subject)}</b>\n\n{escape(text)}", parse_mode="HTML"
            )
        except (TelegramForbiddenError, TelegramBadRequest) as exc:
            # Blocked the bot or deleted the chat: retrying will not help, and other
            # notifiers must not be held up by it.
            log.warning("Telegram notice to agent %s refused by Telegram: %s", agent.id, exc)
