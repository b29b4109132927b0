"""Email administration: the state of each mailbox, and the quarantine (admins, supervisors)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channels.email import queries, recipients
from helpdesk.channels.email.quarantine import QuarantineError
from helpdesk.staff.models import Agent
from helpdesk.staff.permissions import OVERSEERS
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.visibility import TicketNotFound, visible_ticket
from helpdesk.web.auth import CurrentAgent, requires
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID

# Ids beyond the database's 64-bit integers are refused with 422, never sent to it.
QuarantineId = Annotated[int, Path(ge=1, le=MAX_ID, description="The quarantine entry's id")]

router = APIRouter(
    prefix="/api/email", tags=["email"], dependencies=[Depends(requires(*OVERSEERS))]
)


class MailboxOut(BaseModel):
    name: str
    host: str
    folder: str
    connected: bool
    idle: bool
    last_import_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    imported_since_start: int
    quarantined_since_start: int
    uidvalidity: int | None
    last_uid: int | None


class QuarantinedOut(BaseModel):
    id: int
    mailbox: str
    reason: str
    size: int
    sender: str
    subject: str
    created_at: datetime
    reimported_at: datetime | None
    message_id: int | None


class ReimportOut(BaseModel):
    message_id: int


@router.get("/mailboxes", response_model=list[MailboxOut])
async def mailboxes(request: Request) -> list[MailboxOut]:
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        checkpoints = await queries.checkpoints(session)
    found = []
    for worker in runtime.email.workers:
        state, checkpoint = worker.status, checkpoints.get(worker.mailbox.name)
        found.append(
            MailboxOut(
                name=state.name,
                host=worker.mailbox.host,
                folder=worker.mailbox.folder,
                connected=state.connected,
                idle=state.idle,
                last_import_at=state.last_import_at
                or (checkpoint.last_import_at if checkpoint else None),
                last_error=state.last_error,
                last_error_at=state.last_error_at,
                imported_since_start=state.imported,
                quarantined_since_start=state.quarantined,
                uidvalidity=checkpoint.uidvalidity if checkpoint else None,
                last_uid=checkpoint.last_uid if checkpoint else None,
            )
        )
    return found


@router.get("/quarantine", response_model=list[QuarantinedOut])
async def quarantined(request: Request, include_reimported: bool = False) -> list[QuarantinedOut]:
    entries = await runtime_of(request).email.quarantine.entries(
        include_reimported=include_reimported
    )
    return [QuarantinedOut.model_validate(entry, from_attributes=True) for entry in entries]


@router.get("/quarantine/{entry_id}/raw", response_class=Response)
async def quarantined_raw(request: Request, entry_id: QuarantineId) -> Response:
    try:
        data = await runtime_of(request).email.quarantine.raw(entry_id)
    except QuarantineError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    # Served as a download, never rendered: the bytes are hostile.
    return Response(
        data,
        media_type="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="quarantine-{entry_id}.eml"'},
    )


@router.post("/quarantine/{entry_id}/reimport", response_model=ReimportOut)
async def reimport(request: Request, entry_id: QuarantineId) -> ReimportOut:
    try:
        message_id = await runtime_of(request).email.quarantine.reimport(entry_id)
    except QuarantineError as exc:
        code = status.HTTP_404_NOT_FOUND if "no quarantined" in str(exc) else 422
        raise HTTPException(code, str(exc)) from None
    return ReimportOut(message_id=message_id)


# Agents (not only overseers) choose who a reply on a ticket they can see goes to.
recipients_router = APIRouter(prefix="/api/tickets", tags=["email"])


class PersonOut(BaseModel):
    address: str
    name: str


class RecipientsOut(BaseModel):
    to: str | None
    cc: list[PersonOut]
    requests: list[PersonOut]
    removed: list[PersonOut]
    limit: int


class RecipientsIn(BaseModel):
    cc: list[str] = Field(max_length=100)


@recipients_router.get("/{number}/email-recipients", response_model=RecipientsOut)
async def read_recipients(number: int, agent: CurrentAgent, request: Request) -> RecipientsOut:
    """Who the next reply goes to: the customer, and the people copied."""
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        ticket = await _visible(session, agent, number)
        found = await recipients.recipients(session, ticket, _limit(request))
    return RecipientsOut.model_validate(found, from_attributes=True)


@recipients_router.put("/{number}/email-recipients", response_model=RecipientsOut)
async def change_recipients(
    number: int, body: RecipientsIn, agent: CurrentAgent, request: Request
) -> RecipientsOut:
    """Copy exactly these people on the next replies (a request is accepted by listing it)."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        ticket = await _visible(session, agent, number)
        try:
            await recipients.set_copied(
                session, ticket, body.cc, _limit(request), runtime.clock.now()
            )
        except recipients.RecipientsError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return await read_recipients(number, agent, request)


async def _visible(session: AsyncSession, agent: Agent, number: int) -> Ticket:
    try:
        ticket = await visible_ticket(session, agent, number)
    except TicketNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ticket #{number}") from None
    if ticket.channel != "email":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"ticket #{number} is not an email ticket")
    return ticket


def _limit(request: Request) -> int:
    return runtime_of(request).settings.email.reply_participants_max
