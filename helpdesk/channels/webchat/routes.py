"""The customer's side: chat tokens, the chat websocket, the widget script and a demo page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, WebSocket, status
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.websockets import WebSocketDisconnect

from helpdesk.channels.webchat import revocation
from helpdesk.common.security import TokenError
from helpdesk.tickets.visibility import TicketNotFound, visible_ticket
from helpdesk.web.auth import CurrentAgent
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID, ChatSessionIn, ChatSessionOut
from helpdesk.web.templating import render

router = APIRouter()
_STATIC = files("helpdesk") / "web" / "static"


# The widget runs on the company's own site, so these answers are readable cross-origin by the
# sites allowed to host it; they carry no cookies and grant only the chat the token names.
_CROSS_ORIGIN = {
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
    "Vary": "Origin",
}
CLOSE_TOO_MANY_SOCKETS = 4429
NOT_ALLOWED = "this site may not open the chat (webchat.allowed_origins)"


def _cors(request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    allowed = runtime_of(request).webchat.origins.allows(origin)
    if origin is None or not allowed:
        return dict(_CROSS_ORIGIN)
    return {**_CROSS_ORIGIN, "Access-Control-Allow-Origin": origin}


def _address(connection: Request | WebSocket) -> str:
    return connection.client.host if connection.client else ""


@router.options("/api/chat/sessions", include_in_schema=False)
async def start_chat_preflight(request: Request) -> Response:
    return Response(status_code=204, headers=_cors(request))


@router.post(
    "/api/chat/sessions",
    response_model=ChatSessionOut,
    tags=["chat"],
    responses={403: {"description": "a site not allowed"}, 429: {"description": "too many"}},
)
async def start_chat(
    request: Request, response: Response, body: ChatSessionIn | None = None
) -> ChatSessionOut:
    """A token for one chat. Send an earlier token to renew it and keep the same conversation.
    New chats are limited per client address (`webchat.sessions_per_address`)."""
    headers = _cors(request)
    response.headers.update(headers)
    runtime = runtime_of(request)
    webchat = runtime.webchat
    if not webchat.origins.allows(request.headers.get("origin")):
        raise HTTPException(status.HTTP_403_FORBIDDEN, NOT_ALLOWED, headers=headers)
    tokens = webchat.tokens
    visitor = None
    if body and body.token:
        try:
            visitor = await webchat.visitor_of(body.token)
        except TokenError as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, exc.reason, headers=headers) from None
    elif wait := webchat.limits.sessions.take(_address(request)):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many new chats from your address; try again in {wait:.0f} s",
            headers={**headers, "Retry-After": str(int(wait) + 1)},
        )
    visitor, token = tokens.issue(visitor)
    return ChatSessionOut(token=token, visitor=visitor)


@router.websocket("/api/chat/ws")
async def chat_socket(websocket: WebSocket) -> None:
    webchat = runtime_of(websocket).webchat
    if not webchat.origins.allows(websocket.headers.get("origin")):
        # Before the handshake: the browser sees a refused connection (HTTP 403).
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=NOT_ALLOWED)
        return
    address = _address(websocket)
    await websocket.accept()
    if not webchat.limits.open_socket(address):
        message = "too many chat connections from your address"
        await websocket.send_json({"type": "error", "code": "too_many_sockets", "message": message})
        await websocket.close(CLOSE_TOO_MANY_SOCKETS, message)
        return
    try:
        await webchat.serve(websocket, _text_frames(websocket))
    finally:
        webchat.limits.close_socket(address)


async def _text_frames(websocket: WebSocket) -> AsyncIterator[str]:
    while True:
        try:
            event = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if event["type"] == "websocket.disconnect":
            return
        text = event.get("text")
        if text is None:
            # A binary frame: hand it on undecoded-safe, it then fails as bad JSON.
            text = (event.get("bytes") or b"").decode("utf-8", errors="replace")
        yield text


class RevokeIn(BaseModel):
    reason: str = Field("", max_length=500, description="Why, for the record")


class RevokeOut(BaseModel):
    revoked: int = Field(description="Chat visitors newly revoked")
    visitors: int = Field(description="Chat visitors of the ticket's customer")


@router.post("/api/tickets/{number}/chat-revocation", response_model=RevokeOut, tags=["chat"])
async def revoke_chat(
    number: Annotated[int, Path(ge=1, le=MAX_ID)],
    agent: CurrentAgent,
    request: Request,
    body: RevokeIn | None = None,
) -> RevokeOut:
    """End the chat tokens of the ticket's customer: every token it holds is refused from now
    on and its open chat sockets are closed. The customer may start a new chat."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        try:
            ticket = await visible_ticket(session, agent, number)
        except TicketNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ticket {number}") from None
        visitors = await revocation.visitors_of_ticket(session, ticket)
        fresh = await revocation.revoke(
            session,
            visitors,
            agent_id=agent.id,
            reason=body.reason if body else "",
            now=runtime.clock.now(),
        )
    await runtime.webchat.close_revoked(visitors)
    return RevokeOut(revoked=len(fresh), visitors=len(visitors))


@router.get("/widget.js", include_in_schema=False)
async def widget_script() -> Response:
    return Response(
        (_STATIC / "widget.js").read_text(encoding="utf-8"),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )


@router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
async def chat_demo_page(request: Request) -> HTMLResponse:
    runtime = runtime_of(request)
    page = render(runtime.templates, "chat_demo.html", public_url=runtime.settings.public_url)
    return HTMLResponse(page)
