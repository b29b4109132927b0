"""The customer's side: chat tokens, the chat websocket, the widget script and a demo page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib.resources import files

from fastapi import APIRouter, HTTPException, Request, WebSocket, status
from fastapi.responses import HTMLResponse, Response
from starlette.websockets import WebSocketDisconnect

from helpdesk.common.security import TokenError
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import ChatSessionIn, ChatSessionOut
from helpdesk.web.templating import render

router = APIRouter()
_STATIC = files("helpdesk") / "web" / "static"


# The widget runs on the company's own site, so these two answers are readable cross-origin;
# they carry no cookies and grant only the chat the token names.
_CROSS_ORIGIN = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}


@router.options("/api/chat/sessions", include_in_schema=False)
async def start_chat_preflight() -> Response:
    return Response(status_code=204, headers=_CROSS_ORIGIN)


@router.post("/api/chat/sessions", response_model=ChatSessionOut, tags=["chat"])
async def start_chat(
    request: Request, response: Response, body: ChatSessionIn | None = None
) -> ChatSessionOut:
    """A token for one chat. Send an earlier token to renew it and keep the same conversation."""
    response.headers.update(_CROSS_ORIGIN)
    runtime = runtime_of(request)
    tokens = runtime.webchat.tokens
    visitor = None
    if body and body.token:
        try:
            visitor = tokens.visitor(body.token)
        except TokenError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, exc.reason, headers=_CROSS_ORIGIN
            ) from None
    visitor, token = tokens.issue(visitor)
    return ChatSessionOut(token=token, visitor=visitor)


@router.websocket("/api/chat/ws")
async def chat_socket(websocket: WebSocket) -> None:
    runtime = runtime_of(websocket)
    await websocket.accept()
    await runtime.webchat.serve(websocket, _text_frames(websocket))


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
