"""Email administration: the state of each mailbox, and the quarantine (admins, supervisors)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.responses import Response
from pydantic import BaseModel

from helpdesk.channels.email import queries
from helpdesk.channels.email.quarantine import QuarantineError
from helpdesk.staff.permissions import OVERSEERS
from helpdesk.web.auth import requires
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
