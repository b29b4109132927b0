"""Sending replies to Telegram: rendered, split at the length limit, buttons under the last
chunk, and Telegram's errors mapped onto the outbox's retry rules."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
)
from aiogram.types import Message as TelegramMessage

from helpdesk.channels.telegram import CHANNEL
from helpdesk.channels.telegram.render import TelegramTexts
from helpdesk.customers import identities
from helpdesk.messages import (
    DeliveryError,
    DeliveryReceipt,
    OutboundAttachment,
    OutboundMessage,
    QuickReply,
)
from helpdesk.storage.attachments import AttachmentStore
from helpdesk.storage.database import Database

log = logging.getLogger(__name__)

# Telegram shows these inline as photos (up to 10 MB); anything else goes as a document.
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
MAX_PHOTO_BYTES = 10 * 1024 * 1024
BLOCKED = "the customer blocked the bot; Telegram delivers nothing until they write again"


def keyboard(quick_replies: tuple[QuickReply, ...]) -> InlineKeyboardMarkup | None:
    if not quick_replies:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=q.label[:64], callback_data=q.payload)]
            for q in quick_replies
        ]
    )


class TelegramAdapter:
    name = CHANNEL

    def __init__(
        self,
        bot: Bot,
        db: Database,
        attachments: AttachmentStore,
        texts: TelegramTexts,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._bot = bot
        self._db = db
        self._attachments = attachments
        self._texts = texts
        self._on_error = on_error or (lambda _text: None)
        # Parts of a reply (text chunks, files) already sent, so a retry after a failure in the
        # middle does not send the first ones again (within this process).
        self._sent_parts: dict[int, int] = {}

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        if not message.recipient.lstrip("-").isdigit():
            raise DeliveryError(f"not a Telegram chat id: {message.recipient!r}", permanent=True)
        try:
            return await self._send(message)
        except TelegramRetryAfter as exc:
            self._on_error(f"send: rate limited for {exc.retry_after} s")
            raise DeliveryError(
                f"Telegram asked to wait {exc.retry_after} s", retry_after=exc.retry_after
            ) from None
        except TelegramForbiddenError as exc:
            await self._mark_unreachable(message.recipient)
            raise DeliveryError(f"{BLOCKED} ({exc.message})", permanent=True) from None
        except TelegramBadRequest as exc:
            raise DeliveryError(
                f"Telegram refused the message: {exc.message}", permanent=True
            ) from None
        except (TelegramServerError, TelegramNetworkError) as exc:
            self._on_error(f"send: {exc}")
            raise DeliveryError(f"Telegram is unavailable: {exc}") from None

    async def _send(self, message: OutboundMessage) -> DeliveryReceipt:
        chat_id = int(message.recipient)
        chunks = self._texts.message_chunks(
            message.text, author_name=message.author_name, header=message.author_type == "agent"
        )
        markup = keyboard(message.quick_replies)
        # The buttons go under the last part, so the customer sees them after the files.
        parts: list[str | OutboundAttachment] = [*chunks, *message.attachments]
        done = self._sent_parts.get(message.message_id, 0)
        for index, part in enumerate(parts):
            if index < done:
                continue
            last = index == len(parts) - 1
            await self._send_part(chat_id, part, markup if last else None)
            self._sent_parts[message.message_id] = index + 1
        self._sent_parts.pop(message.message_id, None)
        return DeliveryReceipt(delivered=True)

    async def _send_part(
        self, chat_id: int, part: str | OutboundAttachment, markup: InlineKeyboardMarkup | None
    ) -> TelegramMessage:
        if isinstance(part, str):
            return await self._bot.send_message(
                chat_id,
                part,
                parse_mode="HTML",
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        upload = BufferedInputFile(await self._attachments.get(part.sha256), part.filename)
        if part.content_type in PHOTO_TYPES and part.size <= MAX_PHOTO_BYTES:
            return await self._bot.send_photo(chat_id, upload, reply_markup=markup)
        return await self._bot.send_document(chat_id, upload, reply_markup=markup)

    async def _mark_unreachable(self, address: str) -> None:
        async with self._db.transaction() as session:
            await identities.mark_unreachable(session, CHANNEL, address)
        log.warning("Telegram user %s blocked the bot; marked unreachable", address)
