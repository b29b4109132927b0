"""Telegram over HTTP: the webhook Telegram calls, the channel's state for admins, and linking
codes agents hand to customers. Imports nothing from aiogram."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import BaseModel

from helpdesk.channels.telegram import WEBHOOK_PATH, linking, queries, staff_linking
from helpdesk.intake.service import IntakeError
from helpdesk.tickets.visibility import customer_in_sight
from helpdesk.web.auth import CurrentAgent, Overseer
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID

if TYPE_CHECKING:
    from helpdesk.channels.telegram.service import TelegramChannel

router = APIRouter(tags=["telegram"])
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are small; a file arrives by reference, never in the body.
MAX_UPDATE_BYTES = 1024 * 1024


class SkippedOut(BaseModel):
    update_id: int | None
    reason: str
    at: datetime


class TelegramStateOut(BaseModel):
    configured: bool
    state: dict[str, Any] | None
    skipped_total: int
    recent_skipped: list[SkippedOut]


class LinkCodeOut(BaseModel):
    url: str
    code: str
    expires_at: datetime


def _channel(request: Request) -> TelegramChannel:
    runtime = runtime_of(request)
    if not runtime.settings.telegram.token:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the Telegram channel is not configured")
    if runtime.telegram is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the Telegram channel is starting; try again in a few seconds",
            headers={"Retry-After": "5"},
        )
    return runtime.telegram


@router.post(WEBHOOK_PATH, include_in_schema=False)
async def webhook(request: Request) -> dict[str, bool]:
    """Telegram posts each update here. Answering 2xx acknowledges it, so that happens only after
    the commit; on failure Telegram sends the update again."""
    channel = _channel(request)
    if channel.settings.mode != "webhook":
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the Telegram channel is polling")
    if not channel.secret_matches(request.headers.get(SECRET_HEADER, "")):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"missing or wrong {SECRET_HEADER}")
    body = await request.body()
    if len(body) > MAX_UPDATE_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "update too large")
    try:
        update: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        update = body.decode("utf-8", "replace")
    try:
        await channel.handle_webhook(update)
    except (IntakeError, OSError) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"not stored: {exc}") from None
    return {"ok": True}


@router.get("/api/telegram/state", response_model=TelegramStateOut)
async def telegram_state(_agent: Overseer, request: Request) -> TelegramStateOut:
    """Mode, last update, last error, webhook info and skipped updates (supervisors, admins)."""
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        skipped = await queries.skipped_updates(session)
    channel = runtime.telegram
    return TelegramStateOut(
        configured=bool(runtime.settings.telegram.token),
        state=channel.state.as_dict() if channel is not None else None,
        skipped_total=skipped.total,
        recent_skipped=[
            SkippedOut(update_id=s.update_id, reason=s.reason, at=s.at) for s in skipped.recent
        ],
    )


@router.post(
    "/api/customers/{customer_id}/telegram-link",
    response_model=LinkCodeOut,
    status_code=201,
)
async def telegram_link(
    customer_id: Annotated[int, Path(ge=1, le=MAX_ID)], agent: CurrentAgent, request: Request
) -> LinkCodeOut:
    """A one-time link that joins the customer's Telegram account to this customer. Show or
    send it to the customer; it expires and works once. Only for a customer you can see (one of
    whose tickets you may see, or one with no ticket yet): any other id answers 404, as a
    missing one does."""
    runtime = runtime_of(request)
    channel = _channel(request)
    username = channel.state.bot_username
    if not username:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the bot has not reached Telegram yet; try again"
        )
    lifetime = timedelta(minutes=channel.settings.link_code_minutes)
    async with runtime.db.transaction() as session:
        if not await customer_in_sight(session, agent, customer_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer {customer_id}")
        issued = await linking.issue_code(
            session, customer_id, agent_id=agent.id, now=runtime.clock.now(), lifetime=lifetime
        )
    return LinkCodeOut(
        url=f"https://t.me/{username}?start={issued.code}",
        code=issued.code,
        expires_at=issued.expires_at,
    )


class StaffLinkOut(BaseModel):
    linked: bool
    display_name: str | None = None
    linked_at: datetime | None = None


@router.post("/api/me/telegram-link", response_model=LinkCodeOut, status_code=201)
async def staff_telegram_link(agent: CurrentAgent, request: Request) -> LinkCodeOut:
    """A one-time link that makes your own Telegram account where your escalation notices go.
    Open it on your phone and press Start; it expires and works once. Linking again moves the
    notices to the new account."""
    runtime = runtime_of(request)
    channel = _channel(request)
    username = channel.state.bot_username
    if not username:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the bot has not reached Telegram yet; try again"
        )
    lifetime = timedelta(minutes=channel.settings.link_code_minutes)
    async with runtime.db.transaction() as session:
        issued = await staff_linking.issue_code(
            session, agent.id, now=runtime.clock.now(), lifetime=lifetime
        )
    return LinkCodeOut(
        url=f"https://t.me/{username}?start={issued.code}",
        code=issued.code,
        expires_at=issued.expires_at,
    )


@router.get("/api/me/telegram-link", response_model=StaffLinkOut)
async def staff_telegram_linked(agent: CurrentAgent, request: Request) -> StaffLinkOut:
    """Whether your escalation notices also go to a Telegram account."""
    async with runtime_of(request).db.read() as session:
        link = await staff_linking.linked_user(session, agent.id)
    if link is None:
        return StaffLinkOut(linked=False)
    return StaffLinkOut(linked=True, display_name=link.display_name, linked_at=link.linked_at)


@router.delete("/api/me/telegram-link", status_code=204)
async def staff_telegram_unlink(agent: CurrentAgent, request: Request) -> None:
    """Stop escalation notices on Telegram (email and the live feed still carry them)."""
    async with runtime_of(request).db.transaction() as session:
        await staff_linking.unlink(session, agent.id)
