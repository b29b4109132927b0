"""The admin index: the state of every channel. Mailboxes (connected, last import, last
error), Telegram (mode, last update and error), the outbox (backlog, failures), and quarantined
mail with its reason and a re-import button. Read through the API's own route functions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from helpdesk.channels.email import routes as email_routes
from helpdesk.channels.telegram import routes as telegram_routes
from helpdesk.delivery.models import OutboxItem, OutboxStatus
from helpdesk.web import outbox_api
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.workspace.admin.access import is_admin
from helpdesk.web.workspace.pages import PageAgent, overseers_only, page

router = APIRouter(include_in_schema=False)
RECENT_FAILURES = 20


@router.get("/workspace/admin", response_class=HTMLResponse)
async def admin_index(request: Request, agent: PageAgent) -> Response:
    if (answer := overseers_only(request, agent)) is not None:
        return answer
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        backlog = dict(
            (
                await session.execute(
                    select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
                )
            )
            .tuples()
            .all()
        )
        failures = list(
            await session.scalars(
                select(OutboxItem)
                .where(OutboxItem.status == OutboxStatus.FAILED)
                .order_by(OutboxItem.id.desc())
                .limit(RECENT_FAILURES)
            )
        )
    email_on = runtime.email.adapter is not None or bool(runtime.email.workers)
    return page(
        request,
        agent,
        "admin/index.html",
        is_admin=is_admin(agent),
        mailboxes=await email_routes.mailboxes(request) if email_on else [],
        quarantine=await email_routes.quarantined(request) if email_on else [],
        telegram=await telegram_routes.telegram_state(agent, request),
        outbox=await outbox_api.outbox(request, agent),
        backlog={status.value: count for status, count in backlog.items()},
        failures=failures,
        email_on=email_on,
    )
