"""A local Bot API server on loopback that speaks Telegram's wire format, for tests and the
benchmark. It runs on its own thread and event loop, so blocking test code never stalls it.

Tests push updates (as a customer's Telegram app would cause), read what the bot called
(sendMessage and friends), and inject faults: 429 with retry_after, 5xx, 403 blocked, slowness.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.postgres import free_port

BOT_ID = 7000001
TOKEN = f"{BOT_ID}:TEST-token_for-helpdesk"
BOT_USERNAME = "helpdesk_test_bot"


@dataclass
class Fault:
    status: int
    description: str
    retry_after: int | None = None
    times: int = 1


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


class FakeTelegram:
    def __init__(self) -> None:
        self.port = free_port()
        self.updates: list[dict[str, Any]] = []
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.delays: dict[str, float] = {}
        self.webhook_url = ""
        self.highest_offset = 0
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._closing = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- life ---------------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._start_app())
        ready.set()
        self._loop.run_forever()

    async def _start_app(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            assert self._runner is not None and self._changed is not None
            # A long poll still waiting would hold up the shutdown until its timeout.
            self._closing = True
            async with self._changed:
                self._changed.notify_all()
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)

    # --- what tests do ------------------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update; an `update_id` is given if it has none. Returns the update id."""
        with self._lock:
            update = dict(update)
            update.setdefault("update_id", next(self._ids))
            self.updates.append(update)
        self._notify()
        return update["update_id"]

    def push_many(self, updates: list[dict[str, Any]]) -> None:
        with self._lock:
            for update in updates:
                update.setdefault("update_id", next(self._ids))
                self.updates.append(update)
        self._notify()

    def add_file(self, file_id: str, data: bytes) -> None:
        with self._lock:
            self.files[file_id] = data

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        with self._lock:
            self.faults.setdefault(method, []).append(
                Fault(status, description, retry_after, times)
            )

    def slow(self, method: str, seconds: float) -> None:
        with self._lock:
            self.delays[method] = seconds

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def pending(self) -> int:
        """Updates not yet acknowledged (offset not past them)."""
        with self._lock:
            return sum(1 for u in self.updates if u["update_id"] >= self.highest_offset)

    def wait_for(self, method: str, count: int = 1, timeout: float = 15.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = self.calls_of(method)
            if len(calls) >= count:
                return calls
            time.sleep(0.02)
        raise AssertionError(f"{method} called {len(self.calls_of(method))} times, not {count}")

    async def wait_for_async(
        self, method: str, count: int = 1, timeout: float = 15.0
    ) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = self.calls_of(method)
            if len(calls) >= count:
                return calls
            await asyncio.sleep(0.02)
        raise AssertionError(f"{method} called {len(self.calls_of(method))} times, not {count}")

    def _notify(self) -> None:
        if self._loop is not None and self._changed is not None:
            asyncio.run_coroutine_threadsafe(self._wake(), self._loop)

    async def _wake(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # --- the Bot API --------------------------------------------------------------------------

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        form = await request.post()
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = (value.filename, value.file.read())
            else:
                params[key] = _decode(str(value))
        # aiogram uploads a file under a random field and names it as "attach://<field>".
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                field_name = value.removeprefix("attach://")
                if field_name in files:
                    files[key] = files.pop(field_name)
        with self._lock:
            delay = self.delays.get(method, 0.0)
            fault = self._take_fault(method)
        if delay:
            await asyncio.sleep(delay)
        if fault is not None:
            with self._lock:
                self.calls.append(Call(f"{method}:failed", params, files))
            return _error(fault.status, fault.description, fault.retry_after)
        if method == "getUpdates":
            return _ok(await self._get_updates(params))
        with self._lock:
            self.calls.append(Call(method, params, files))
            return _ok(self._answer(method, params))

    def _take_fault(self, method: str) -> Fault | None:
        queue = self.faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        with self._lock:
            if self.webhook_url:
                raise web.HTTPConflict(
                    text=json.dumps(
                        {"ok": False, "error_code": 409, "description": "Conflict: webhook is set"}
                    ),
                    content_type="application/json",
                )
            self.highest_offset = max(self.highest_offset, offset)
            # Telegram forgets everything below the offset once it is asked for.
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        assert self._changed is not None
        while True:
            with self._lock:
                ready = self.updates[:limit]
            if ready or self._closing or time.monotonic() >= deadline:
                return ready
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait(), max(0.01, deadline - time.monotonic())
                    )

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Helpdesk",
                "username": BOT_USERNAME,
            }
        if method == "getWebhookInfo":
            return {
                "url": self.webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self.updates),
            }
        if method == "setWebhook":
            self.webhook_url = params.get("url", "")
            return True
        if method == "deleteWebhook":
            self.webhook_url = ""
            return True
        if method == "getFile":
            file_id = params["file_id"]
            if file_id not in self.files:
                raise web.HTTPBadRequest(
                    text=json.dumps(
                        {
                            "ok": False,
                            "error_code": 400,
                            "description": "Bad Request: invalid file_id",
                        }
                    ),
                    content_type="application/json",
                )
            return {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_size": len(self.files[file_id]),
                "file_path": f"files/{file_id}",
            }
        if method in ("sendMessage", "sendPhoto", "sendDocument"):
            chat_id = int(params["chat_id"])
            result: dict[str, Any] = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
            }
            if "text" in params:
                result["text"] = params["text"]
            return result
        return True

    async def _file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["path"].removeprefix("files/")
        with self._lock:
            data = self.files.get(file_id)
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")


def _decode(value: str) -> Any:
    # aiogram sends complex values as JSON strings.
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


# --- updates as Telegram sends them --------------------------------------------------------------

_message_numbers = itertools.count(1)


def user(user_id: int, first: str = "Ivan", last: str = "Petrov", **extra: Any) -> dict[str, Any]:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": first,
        "last_name": last,
        "username": f"user{user_id}",
        "language_code": "en",
        **extra,
    }


def message(
    sender: dict[str, Any],
    text: str | None = None,
    *,
    message_id: int | None = None,
    chat_type: str = "private",
    chat_id: int | None = None,
    **content: Any,
) -> dict[str, Any]:
    chat = {"id": chat_id or sender["id"], "type": chat_type}
    if chat_type == "private":
        chat["first_name"] = sender["first_name"]
    else:
        chat["title"] = "Some group"
    body: dict[str, Any] = {
        "message_id": message_id or next(_message_numbers),
        "date": int(time.time()),
        "chat": chat,
        "from": sender,
        **content,
    }
    if text is not None:
        body["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return body


def message_update(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"message": message(*args, **kwargs)}


def edit_update(original: dict[str, Any], text: str) -> dict[str, Any]:
    edited = {**original["message"], "text": text, "edit_date": int(time.time()) + 1}
    return {"edited_message": edited}


def callback_update(
    sender: dict[str, Any], data: str, label: str, query_id: str | None = None
) -> dict[str, Any]:
    bot_message = {
        "message_id": next(_message_numbers),
        "date": int(time.time()),
        "chat": {"id": sender["id"], "type": "private", "first_name": sender["first_name"]},
        "text": "Hello",
        "reply_markup": {"inline_keyboard": [[{"text": label, "callback_data": data}]]},
    }
    return {
        "callback_query": {
            "id": query_id or f"q{next(_message_numbers)}",
            "from": sender,
            "chat_instance": "ci",
            "message": bot_message,
            "data": data,
        }
    }


def photo(file_id: str, size: int) -> list[dict[str, Any]]:
    return [
        {"file_id": f"{file_id}-small", "file_unique_id": "s", "width": 90, "height": 90},
        {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "width": 800,
            "height": 600,
            "file_size": size,
        },
    ]
