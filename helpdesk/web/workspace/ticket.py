"""The ticket page and its forms: reply (with files), note, resolve, retry a failed delivery,
and attachment downloads. Each form carries the session's CSRF token; each action is the API's
own (`tickets.actions`), under the same visibility rule, and answers with the page again."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from helpdesk.delivery.state import retry_failed
from helpdesk.messages import OutboundAttachment
from helpdesk.tickets import actions
from helpdesk.tickets.models import Attachment, Message, TicketStatus
from helpdesk.tickets.reply_channels import reply_address
from helpdesk.tickets.visibility import TicketNotFound, visible_ticket
from helpdesk.web.agent_api import MAX_REPLY_FILE_BYTES
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID
from helpdesk.web.workspace.pages import PageAgent, check_csrf, page
from helpdesk.web.workspace.ticket_data import ticket_page

T = TypeVar("T")
router = APIRouter(include_in_schema=False)
Number = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_FILES = 10


async def _found(read: Awaitable[T], number: int) -> T:
    try:
        return await read
    except TicketNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ticket #{number}") from None


def _back(number: int, notice: str = "") -> RedirectResponse:
    suffix = f"?notice={notice}" if notice else ""
    return RedirectResponse(
        f"/workspace/tickets/{number}{suffix}", status_code=status.HTTP_303_SEE_OTHER
    )


@router.get("/workspace/tickets/{number}", response_class=HTMLResponse)
async def ticket(number: Number, request: Request, agent: PageAgent) -> Response:
    runtime = runtime_of(request)
    try:
        data = await ticket_page(runtime, agent, number)
    except TicketNotFound:
        # The same answer for a ticket that does not exist and one the agent may not see.
        missing = page(request, agent, "not_found.html", number=number)
        missing.status_code = status.HTTP_404_NOT_FOUND
        return missing
    return page(
        request,
        agent,
        "ticket.html",
        t=data,
        now=runtime.clock.now(),
        notice=request.query_params.get("notice", "")[:40],
        error=request.query_params.get("error", "")[:300],
        reply_key=secrets.token_urlsafe(12),
    )


@router.get("/workspace/tickets/{number}/messages", response_class=HTMLResponse)
async def messages(number: Number, request: Request, agent: PageAgent) -> Response:
    """The conversation alone, swapped in when the live feed says the ticket changed."""
    runtime = runtime_of(request)
    data = await _found(ticket_page(runtime, agent, number), number)
    return page(request, agent, "ticket_messages.html", t=data)


async def _files(form: dict[str, Any], request: Request) -> list[OutboundAttachment]:
    runtime = runtime_of(request)
    uploads = [f for f in (await request.form()).getlist("files") if isinstance(f, UploadFile)]
    stored: list[OutboundAttachment] = []
    for upload in uploads[:MAX_FILES]:
        if not upload.filename:
            continue
        data = await upload.read(MAX_REPLY_FILE_BYTES + 1)
        if not data or len(data) > MAX_REPLY_FILE_BYTES:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"{upload.filename}: a file must be 1 byte to {MAX_REPLY_FILE_BYTES} bytes",
            )
        digest = await runtime.attachments.put(data)
        content_type = upload.content_type or "application/octet-stream"
        stored.append(OutboundAttachment(upload.filename, content_type, digest, len(data)))
    return stored


def _error(number: int, exc: Exception) -> RedirectResponse:
    return RedirectResponse(
        f"/workspace/tickets/{number}?error={quote(str(exc)[:300])}",
        status_code=status.HTTP_303_SEE_OTHER,
    )


@router.post("/workspace/tickets/{number}/reply")
async def reply(number: Number, request: Request, agent: PageAgent) -> Response:
    form = await check_csrf(request)
    runtime = runtime_of(request)
    files = await _files(form, request)
    key = str(form.get("idempotency_key") or "")[:64] or None
    try:
        async with runtime.db.transaction() as session:
            ticket = await _found(visible_ticket(session, agent, number), number)
            chosen = str(form.get("via") or "")
            via = (
                await reply_address(session, ticket, int(chosen), runtime.adapters)
                if chosen.isdigit() and len(chosen) < 19
                else None
            )
            await actions.reply(
                session,
                agent,
                ticket,
                str(form.get("text") or "")[:65536],
                now=runtime.clock.now(),
                idempotency_key=key,
                attachments=files,
                via=via,
            )
    except actions.TicketRuleError as exc:
        return _error(number, exc)
    return _back(number, "sent")


@router.post("/workspace/tickets/{number}/note")
async def note(number: Number, request: Request, agent: PageAgent) -> Response:
    form = await check_csrf(request)
    runtime = runtime_of(request)
    try:
        async with runtime.db.transaction() as session:
            ticket = await _found(visible_ticket(session, agent, number), number)
            text = str(form.get("text") or "")[:65536]
            await actions.add_note(session, agent, ticket, text, now=runtime.clock.now())
    except actions.TicketRuleError as exc:
        return _error(number, exc)
    return _back(number, "noted")


@router.post("/workspace/tickets/{number}/resolve")
async def resolve(number: Number, request: Request, agent: PageAgent) -> Response:
    """Resolve; a complaint needs the remedy and the root cause (the same rule as the API)."""
    form = await check_csrf(request)
    runtime = runtime_of(request)
    changes = actions.TicketChanges(
        status=TicketStatus.RESOLVED,
        remedy=str(form.get("remedy") or "").strip()[:4000] or None,
        root_cause=str(form.get("root_cause") or "").strip()[:100] or None,
    )
    try:
        async with runtime.db.transaction() as session:
            ticket = await _found(visible_ticket(session, agent, number), number)
            await actions.change(
                session,
                agent,
                ticket,
                changes,
                now=runtime.clock.now(),
                root_causes=runtime.settings.conversation.complaint_root_causes,
            )
    except actions.TicketRuleError as exc:
        return _error(number, exc)
    return _back(number, "resolved")


@router.post("/workspace/tickets/{number}/messages/{message_id}/retry")
async def retry(
    number: Number,
    message_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    request: Request,
    agent: PageAgent,
) -> Response:
    await check_csrf(request)
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        ticket = await _found(visible_ticket(session, agent, number), number)
        message = await session.scalar(
            select(Message).where(Message.id == message_id, Message.ticket_id == ticket.id)
        )
        if message is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no message {message_id} on #{number}")
        retried = await retry_failed(session, message, agent_id=agent.id, now=runtime.clock.now())
    return _back(number, "retrying" if retried else "")


@router.get("/workspace/attachments/{attachment_id}")
async def download(
    attachment_id: Annotated[int, Path(ge=1, le=MAX_ID)], request: Request, agent: PageAgent
) -> Response:
    """A file of a message on a ticket the agent may see; always a download, never shown
    inline, so a hostile file cannot run as a page of this site."""
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        row = (
            await session.execute(
                select(Attachment, Message.ticket_id)
                .join(Message, Message.id == Attachment.message_id)
                .where(Attachment.id == attachment_id)
            )
        ).first()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
        attachment, ticket_id = row
        await _found(visible_ticket(session, agent, ticket_id), ticket_id)
    data = await runtime.attachments.get(attachment.sha256)
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(attachment.filename)}",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    return Response(data, media_type="application/octet-stream", headers=headers)
