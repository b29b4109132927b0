"""An aiogram router whose handlers turn updates into `Translation`s: what to store, what to
answer, or why to skip. Handlers only translate; storing happens afterwards, for a whole batch
of updates in one transaction (`store.py`), so nothing is acknowledged before it is committed."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, Update, User

from helpdesk import payloads
from helpdesk.channels.telegram import CHANNEL
from helpdesk.channels.telegram.settings import TelegramSettings
from helpdesk.channels.telegram.translations import Incoming, Sender, Skipped, Start, Translation
from helpdesk.messages import InboundAttachment, InboundMessage

# Content types stored as messages; anything else (stickers, polls, locations, ...) is skipped.
STORED_CONTENT = frozenset({"text", "photo", "document", "voice", "video_note", "video", "audio"})
CHAT_TYPES_WITH_GROUPS = frozenset({"private", "group", "supergroup"})
EDIT_PREFIX = "(edited) "

Download = Callable[[Bot, str], Awaitable[bytes]]


async def download(bot: Bot, file_id: str) -> bytes:
    """getFile, then fetch the file from the Bot API server."""
    buffer = io.BytesIO()
    await bot.download(file_id, destination=buffer)
    return buffer.getvalue()


def sender_of(user: User) -> Sender:
    return Sender(
        address=str(user.id),
        name=user.full_name[:200],
        username=(user.username or None) and user.username[:64],
        language=(user.language_code or None) and user.language_code[:16],
    )


def build_router(settings: TelegramSettings, fetch: Download = download) -> Router:
    router = Router(name="helpdesk")
    chat_types = CHAT_TYPES_WITH_GROUPS if settings.allow_groups else frozenset({"private"})

    # Filters are coroutines: aiogram runs plain callables (magic filters too) in a thread
    # pool, and three thread hops per update cost more than everything else it does.
    async def from_allowed_chat(message: Message) -> bool:
        return message.chat.type in chat_types and message.from_user is not None

    async def stored_content(message: Message) -> bool:
        return message.content_type in STORED_CONTENT

    async def has_data(query: CallbackQuery) -> bool:
        return bool(query.data)

    for observer in (router.message, router.edited_message):
        observer.filter(from_allowed_chat)

    @router.message(CommandStart(ignore_mention=True))
    async def on_start(message: Message, command: CommandObject) -> Translation:
        assert message.from_user is not None
        return Start(message.chat.id, sender_of(message.from_user), (command.args or "").strip())

    @router.message(Command("human", "complaint", "stop", ignore_mention=True))
    async def on_command(message: Message, command: CommandObject, bot: Bot) -> Translation:
        payload = {"human": payloads.HUMAN, "stop": payloads.STOP}.get(
            command.command, payloads.COMPLAINT
        )
        return await _incoming(message, bot, settings, fetch, payload=payload)

    @router.message(stored_content)
    async def on_message(message: Message, bot: Bot) -> Translation:
        return await _incoming(message, bot, settings, fetch)

    @router.edited_message(stored_content)
    async def on_edit(message: Message, bot: Bot) -> Translation:
        return await _incoming(message, bot, settings, fetch, edited=True)

    @router.callback_query(has_data)
    async def on_button(query: CallbackQuery) -> Translation:
        data = query.data or ""
        if len(data) > payloads.MAX_LENGTH:
            return Skipped(f"button data longer than {payloads.MAX_LENGTH} characters")
        return Incoming(
            InboundMessage(
                channel=CHANNEL,
                external_id=f"cb:{query.id}",
                sender=str(query.from_user.id),
                sender_name=query.from_user.full_name[:200],
                text=_button_label(query, data),
                language=query.from_user.language_code,
                payload=data,
            ),
            sender_of(query.from_user),
            callback_query_id=query.id,
        )

    return router


def _button_label(query: CallbackQuery, data: str) -> str:
    markup = getattr(query.message, "reply_markup", None)
    if isinstance(markup, InlineKeyboardMarkup):
        for row in markup.inline_keyboard:
            for button in row:
                if button.callback_data == data:
                    return button.text
    return data


async def _incoming(
    message: Message,
    bot: Bot,
    settings: TelegramSettings,
    fetch: Download,
    *,
    payload: str | None = None,
    edited: bool = False,
) -> Translation:
    assert message.from_user is not None
    text = message.text or message.caption or ""
    if len(text) > settings.max_text_chars:
        return Skipped(f"text of {len(text)} characters; the limit is {settings.max_text_chars}")
    attachments, notes = await _attachments(message, bot, settings, fetch)
    if message.reply_to_message is not None:
        quoted = (message.reply_to_message.text or message.reply_to_message.caption or "").strip()
        if quoted:
            short = quoted.splitlines()[0][:200]
            notes.insert(0, f"(in reply to: {short})")
    if not text and not attachments:
        text = f"({message.content_type.replace('_', ' ')})"
    body = "\n".join([*notes, text]) if notes else text
    key = f"{message.chat.id}:{message.message_id}"
    sent_at = _as_datetime(message.date)
    if edited:
        sent_at = _as_datetime(message.edit_date) or sent_at
        stamp = int(sent_at.timestamp()) if sent_at else 0
        return Incoming(
            _inbound(message, f"{key}:edit:{stamp}", EDIT_PREFIX + body, attachments, sent_at),
            sender_of(message.from_user),
            edit_of=key,
        )
    return Incoming(
        _inbound(message, key, body, attachments, sent_at, payload=payload),
        sender_of(message.from_user),
    )


def _as_datetime(value: datetime | int | None) -> datetime | None:
    """aiogram gives some dates as datetimes and others (edit_date) as Unix times."""
    if value is None:
        return None
    if isinstance(value, int):
        return datetime.fromtimestamp(value, UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _inbound(
    message: Message,
    external_id: str,
    text: str,
    attachments: tuple[InboundAttachment, ...],
    sent_at: datetime | None,
    *,
    payload: str | None = None,
) -> InboundMessage:
    assert message.from_user is not None
    return InboundMessage(
        channel=CHANNEL,
        external_id=external_id,
        sender=str(message.from_user.id),
        sender_name=message.from_user.full_name[:200],
        text=text,
        attachments=attachments,
        sent_at=sent_at,
        language=message.from_user.language_code,
        payload=payload,
    )


async def _attachments(
    message: Message, bot: Bot, settings: TelegramSettings, fetch: Download
) -> tuple[tuple[InboundAttachment, ...], list[str]]:
    """The message's file, fetched into memory, or a note saying why it was not."""
    described = _file_of(message)
    if described is None:
        return (), []
    file_id, size, filename, content_type = described
    if size is not None and size > settings.max_file_bytes:
        return (), [
            f"({filename}: {size} bytes, larger than the limit of {settings.max_file_bytes})"
        ]
    try:
        data = await fetch(bot, file_id)
    except TelegramBadRequest as exc:
        # Permanent (the file is gone or too big for the Bot API); transient errors propagate
        # so the update is not acknowledged and is fetched again.
        return (), [f"({filename} could not be fetched: {exc.message})"]
    if len(data) > settings.max_file_bytes:
        return (), [f"({filename}: larger than the limit of {settings.max_file_bytes} bytes)"]
    return (InboundAttachment(filename, content_type, data),), []


def _file_of(message: Message) -> tuple[str, int | None, str, str] | None:
    if message.photo:
        photo = message.photo[-1]
        return photo.file_id, photo.file_size, f"photo_{photo.file_unique_id}.jpg", "image/jpeg"
    if message.document:
        doc = message.document
        return (
            doc.file_id,
            doc.file_size,
            doc.file_name or f"document_{doc.file_unique_id}",
            doc.mime_type or "application/octet-stream",
        )
    if message.voice:
        voice = message.voice
        return voice.file_id, voice.file_size, "voice.ogg", voice.mime_type or "audio/ogg"
    if message.video_note:
        note = message.video_note
        return note.file_id, note.file_size, "video_note.mp4", "video/mp4"
    if message.video:
        video = message.video
        name = video.file_name or "video.mp4"
        return video.file_id, video.file_size, name, video.mime_type or "video/mp4"
    if message.audio:
        audio = message.audio
        name = audio.file_name or "audio.mp3"
        return audio.file_id, audio.file_size, name, audio.mime_type or "audio/mpeg"
    return None


def unhandled_reason(update: Update, allow_groups: bool) -> str:
    """Why no handler took this update, in words an admin understands."""
    try:
        kind = update.event_type
    except Exception:
        return "unknown update type"
    event = update.event
    if isinstance(event, Message) and kind in ("message", "edited_message"):
        if event.chat.type != "private" and not allow_groups:
            return f"{kind} in a {event.chat.type} chat (groups are off)"
        if event.chat.type not in CHAT_TYPES_WITH_GROUPS:
            return f"{kind} in a {event.chat.type}"
        if event.from_user is None:
            return f"{kind} without a sender"
        return f"{kind} with unsupported content: {getattr(event.content_type, 'value', '?')}"
    if isinstance(event, CallbackQuery):
        return "button press without data"
    return f"update type {kind} is not used"
