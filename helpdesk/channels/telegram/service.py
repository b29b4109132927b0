"""The Telegram channel at work: set-up (webhook registered and verified, or removed for
polling), a polling loop that acknowledges an update only after it is committed, webhook
updates, and the answers that need no ticket (greeting, linking result, button presses).

aiogram's own `start_polling` fetches the next batch (acknowledging the last) while handlers of
the last may still run, so the loop here is our own: getUpdates, translate every update through
the router, commit the batch with the new offset, and only then ask for more."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods.base import TelegramMethod
from aiogram.types import Update
from pydantic import ValidationError

from helpdesk import payloads
from helpdesk.channels.telegram import WEBHOOK_PATH
from helpdesk.channels.telegram.outbound import TelegramAdapter, keyboard
from helpdesk.channels.telegram.render import TelegramTexts
from helpdesk.channels.telegram.settings import TelegramSettings
from helpdesk.channels.telegram.state import ChannelState
from helpdesk.channels.telegram.store import Committed, Item, commit_batch, saved_offset
from helpdesk.channels.telegram.translate import build_router, unhandled_reason
from helpdesk.channels.telegram.translations import Incoming, Skipped, Start, Translation
from helpdesk.common.background import BackgroundTask
from helpdesk.common.clock import Clock
from helpdesk.intake.service import IntakeService
from helpdesk.messages import QuickReply
from helpdesk.storage.attachments import AttachmentStore
from helpdesk.storage.database import Database
from helpdesk.templating import Templates

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
GREETING_BUTTONS = (
    QuickReply(payloads.HUMAN, "Talk to a person"),
    QuickReply(payloads.COMPLAINT, "Complaint"),
)
# Failures that say nothing about the update itself: it is fetched again later.
TRANSIENT = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter, TimeoutError, OSError)
MAX_BACKOFF_SECONDS = 30.0
UPDATE_KINDS = frozenset(Update.model_fields) - {"update_id"}


class RawGetUpdates(TelegramMethod[list[dict[str, Any]]]):
    """getUpdates returning plain dicts, so one malformed update cannot fail the whole batch.
    Not a GetUpdates subclass: that would type the result as a list of Update."""

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


class TelegramChannel:
    def __init__(
        self,
        settings: TelegramSettings,
        *,
        public_url: str,
        secret_key: str,
        db: Database,
        intake: IntakeService,
        clock: Clock,
        attachments: AttachmentStore,
        templates: Templates,
    ) -> None:
        self.settings = settings
        self.texts = TelegramTexts(templates)
        session = AiohttpSession(
            api=TelegramAPIServer.from_base(self.settings.api_base_url),
            timeout=self.settings.request_timeout_seconds,
        )
        self.bot = Bot(self.settings.token, session=session)
        self.dispatcher = Dispatcher()
        self.dispatcher.include_router(build_router(self.settings))
        self.state = ChannelState(mode=self.settings.mode)
        self.adapter = TelegramAdapter(
            self.bot, db, attachments, self.texts, on_error=self._record_error
        )
        self.webhook_url = self.settings.webhook_url or public_url + WEBHOOK_PATH
        self.webhook_secret = (
            self.settings.webhook_secret
            or hmac.new(secret_key.encode(), b"telegram-webhook", hashlib.sha256).hexdigest()
        )
        self._db = db
        self._intake = intake
        self._clock = clock
        self._attachments = attachments
        self._worker = BackgroundTask("telegram", self._run)
        self._answers: set[asyncio.Task[None]] = set()
        # aiogram logs every update at INFO; at hundreds a second that is noise.
        logging.getLogger("aiogram.event").setLevel(logging.WARNING)

    async def start(self) -> None:
        self._worker.start()

    async def stop(self) -> None:
        await self._worker.stop()
        if self._answers:
            await asyncio.wait(self._answers, timeout=2)
        await self.bot.session.close()
        self.state.running = False

    def secret_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.webhook_secret.encode())

    def _record_error(self, text: str) -> None:
        self.state.error(text, self._clock.now())

    async def _run(self) -> None:
        await self._set_up()
        self.state.running = True
        if self.settings.mode == "polling":
            await self._poll_forever()

    async def _set_up(self) -> None:
        delay = 1.0
        while True:
            try:
                me = await self.bot.me()
                self.state.bot_username = me.username
                if self.settings.mode == "webhook":
                    await self._register_webhook()
                else:
                    info = await self.bot.get_webhook_info()
                    if info.url:
                        # getUpdates is refused while a webhook is set; pending updates stay.
                        log.info("Telegram: removing webhook %s to poll instead", info.url)
                        await self.bot.delete_webhook(drop_pending_updates=False)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._record_error(f"set-up failed: {exc}")
                log.warning("Telegram set-up failed (%s); trying again in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _register_webhook(self) -> None:
        await self.bot.set_webhook(
            self.webhook_url,
            secret_token=self.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )
        info = await self.bot.get_webhook_info()
        self.state.webhook = {
            "url": info.url,
            "pending_update_count": info.pending_update_count,
            "last_error_message": info.last_error_message,
            "last_error_date": info.last_error_date,
        }
        if info.url != self.webhook_url:
            raise RuntimeError(f"Telegram reports webhook {info.url!r}, not {self.webhook_url!r}")
        if not self.webhook_url.startswith("https://"):
            log.warning(
                "Telegram webhook %s is not HTTPS; Telegram only calls HTTPS", self.webhook_url
            )
        self.state.succeeded(self._clock.now())
        log.info("Telegram webhook registered and verified: %s", self.webhook_url)

    async def _poll_forever(self) -> None:
        async with self._db.read() as session:
            offset = await saved_offset(session, self.bot.id)
        self.state.next_offset = offset
        delay = 1.0
        timeout = self.settings.poll_timeout_seconds
        while True:
            try:
                raw = await self.bot(
                    RawGetUpdates(
                        offset=offset or None,
                        limit=self.settings.poll_limit,
                        timeout=timeout,
                        allowed_updates=ALLOWED_UPDATES,
                    ),
                    request_timeout=int(timeout + self.settings.request_timeout_seconds),
                )
                self.state.succeeded(self._clock.now())
                if raw:
                    offset = await self._process(raw, offset)
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except TelegramRetryAfter as exc:
                self._record_error(f"getUpdates: rate limited for {exc.retry_after} s")
                await asyncio.sleep(exc.retry_after)
            except Exception as exc:
                # Nothing was acknowledged: the same updates come again after the pause.
                self._record_error(f"polling: {type(exc).__name__}: {exc}")
                log.warning(
                    "Telegram polling failed (%s); again in %.0f s", exc, delay, exc_info=True
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _process(self, raw: list[dict[str, Any]], offset: int) -> int:
        items = [await self._item(update) for update in raw]
        ids = [item.update_id for item in items if item.update_id is not None]
        next_offset = max([offset, *(i + 1 for i in ids)])
        await self._commit(items, next_offset)
        self.state.next_offset = next_offset
        return next_offset

    async def handle_webhook(self, raw: Any) -> None:
        """Store one update sent to the webhook; raises if it must be sent again."""
        if not isinstance(raw, dict):
            item = Item(None, Skipped("update is not a JSON object", _dump(raw)))
        else:
            item = await self._item(raw)
        await self._commit([item], None)

    async def _item(self, raw: dict[str, Any]) -> Item:
        update_id = raw.get("update_id") if isinstance(raw.get("update_id"), int) else None
        translation = await self._translate(raw)
        if isinstance(translation, Skipped) and not translation.raw:
            translation = Skipped(translation.reason, _dump(raw))
        hashes: tuple[str, ...] = ()
        if isinstance(translation, Incoming):
            hashes = await self._attachments.put_many(
                [a.data for a in translation.message.attachments]
            )
        return Item(update_id, translation, hashes)

    async def _translate(self, raw: dict[str, Any]) -> Translation:
        if not UPDATE_KINDS.intersection(raw):
            return Skipped("unknown update type")
        try:
            update = Update.model_validate(raw, context={"bot": self.bot})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return Skipped(f"malformed update: {where}: {first['msg']}")
        try:
            result = await self.dispatcher.feed_update(self.bot, update)
        except TRANSIENT:
            raise
        except Exception as exc:
            log.exception("Telegram update %s could not be read", update.update_id)
            return Skipped(f"could not be read: {type(exc).__name__}: {exc}")
        if result is UNHANDLED or not isinstance(result, Incoming | Start | Skipped):
            return Skipped(unhandled_reason(update, self.settings.allow_groups))
        return result

    async def _commit(self, items: list[Item], next_offset: int | None) -> Committed:
        async with self._intake.unit() as unit:
            committed = await commit_batch(unit, items, bot_id=self.bot.id, next_offset=next_offset)
        self._account(items, committed, unit.now)
        for index, item in enumerate(items):
            self._answer(item.translation, committed, index)
        return committed

    def _account(self, items: list[Item], committed: Committed, now: datetime) -> None:
        state = self.state
        state.updates += len(items)
        ids = [item.update_id for item in items if item.update_id is not None]
        if ids:
            state.last_update_id = max(ids)
        state.last_update_at = now
        for receipt in committed.receipts.values():
            if receipt.duplicate:
                state.duplicates += 1
            else:
                state.stored += 1
        for item in items:
            if isinstance(item.translation, Skipped):
                reason = item.translation.reason
                log.info("Telegram update %s skipped: %s", item.update_id, reason[:200])
                state.skipped[re.sub(r"\d+", "N", reason)[:100]] += 1

    def _answer(self, translation: Translation, committed: Committed, index: int) -> None:
        """Replies that belong to no ticket, sent after the commit without holding up intake."""
        if isinstance(translation, Start):
            result = committed.links.get(index)
            if result is not None:
                text = self.texts.template("link_result", result=result.value)
                self._later(self.bot.send_message(translation.chat_id, text, parse_mode="HTML"))
            else:
                self._later(
                    self.bot.send_message(
                        translation.chat_id,
                        self.texts.template("greeting", name=translation.sender.name),
                        parse_mode="HTML",
                        reply_markup=keyboard(GREETING_BUTTONS),
                    )
                )
        elif isinstance(translation, Incoming) and translation.callback_query_id:
            self._later(self.bot.answer_callback_query(translation.callback_query_id))

    def _later(self, call: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await call
            except Exception as exc:
                self._record_error(f"answer: {exc}")
                log.warning("Telegram answer failed: %s", exc)

        task = asyncio.create_task(run())
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)


def _dump(raw: Any) -> str:
    try:
        return json.dumps(raw, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(raw)
