"""Logging: plain lines or one JSON object per line, each with the request id of the HTTP request
or chat connection it belongs to, and (with `operations.trace_messages`) one line per step of a
message's way: received into its ticket, reply queued, delivery changed, keyed by ticket and
message id. Secrets are never logged: settings print masked, chat tokens never travel in URLs,
and a last filter masks anything shaped like a bearer token or a URL password."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.events.reactions import Broadcast, EventTable, Reaction
from helpdesk.events.types import DeliveryChanged, Event, MessageReceived, ReplyQueued

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
trace = logging.getLogger("helpdesk.trace")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_SECRETS = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
    (re.compile(r"(/bot\d+:)[A-Za-z0-9_-]+"), r"\1***"),  # Telegram bot tokens in API URLs
)
# Attributes every LogRecord has; anything else came in `extra=` and goes into the JSON.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class _Context(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def _masked(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _masked(record.getMessage()),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            entry["error"] = _masked(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return _masked(super().format(record))


def configure(level: str, log_format: str, trace_messages: bool) -> dict[str, Any]:
    """Set up the root logger; returns uvicorn's `log_config` so its loggers use the same."""
    handler = logging.StreamHandler()
    handler.addFilter(_Context())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    trace.setLevel(logging.INFO if trace_messages else logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    return {"version": 1, "disable_existing_loggers": False}


class RequestIdMiddleware:
    """Each HTTP request and chat connection gets a request id: the proxy's `X-Request-ID` when
    it sends a sane one, else a new one; HTTP answers carry it back."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else secrets.token_hex(8)
        token = request_id.set(rid)

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


async def _trace(_session: AsyncSession, event: Event) -> None:
    fields = {"event": type(event).__name__, **_fields(event)}
    trace.info(
        " ".join(f"{k}={v}" for k, v in fields.items()),
        extra={k: v for k, v in fields.items() if k != "event"} | {"event": fields["event"]},
    )


def _fields(event: Event) -> dict[str, Any]:
    if isinstance(event, MessageReceived):
        return {
            "ticket_id": event.ticket_id,
            "message_id": event.message_id,
            "channel": event.channel,
            "opened_ticket": event.opened_ticket,
        }
    if isinstance(event, ReplyQueued):
        return {
            "ticket_id": event.ticket_id,
            "message_id": event.message_id,
            "channel": event.channel,
        }
    if isinstance(event, DeliveryChanged):
        return {"ticket_id": event.ticket_id, "message_id": event.message_id, "state": event.state}
    return {}


TRACED: Sequence[type[Event]] = (MessageReceived, ReplyQueued, DeliveryChanged)


def add_message_trace(table: EventTable) -> EventTable:
    """One reaction (so one line, in whichever process claims it) per step of a message."""
    reaction = Reaction("trace-log", _trace)
    traced: EventTable = dict(table)
    for event_type in TRACED:
        handlers: list[Reaction | Broadcast] = list(traced.get(event_type, ()))
        traced[event_type] = [*handlers, reaction]
    return traced
