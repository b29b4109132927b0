"""Delivery as this process sees it (supervisors, admins): the channels it sends on, and the
replies waiting for a channel it does not have."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from helpdesk.delivery.waiting import waiting_elsewhere
from helpdesk.web.auth import Overseer
from helpdesk.web.dependencies import runtime_of

router = APIRouter(prefix="/api/outbox", tags=["delivery"])


class WaitingOut(BaseModel):
    channel: str
    replies: int
    oldest_queued_at: datetime


class OutboxOut(BaseModel):
    sends_on: list[str]
    waiting_for_other_channels: list[WaitingOut]


@router.get("", response_model=OutboxOut)
async def outbox(request: Request, _agent: Overseer) -> OutboxOut:
    runtime = runtime_of(request)
    sends_on = sorted(runtime.adapters)
    waiting = await waiting_elsewhere(runtime.db, sends_on)
    return OutboxOut(
        sends_on=sends_on,
        waiting_for_other_channels=[
            WaitingOut(channel=w.channel, replies=w.replies, oldest_queued_at=w.oldest_queued_at)
            for w in waiting
        ],
    )
