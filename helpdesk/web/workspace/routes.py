"""The workspace's routes and its one exception answer (signed out: to the sign-in page)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response

from helpdesk.web.workspace import collision, dashboard, queue, signin, ticket
from helpdesk.web.workspace.admin import agents as admin_agents
from helpdesk.web.workspace.admin import articles as admin_articles
from helpdesk.web.workspace.admin import channels as admin_channels
from helpdesk.web.workspace.admin import customers as admin_customers
from helpdesk.web.workspace.admin import routing_sla as admin_routing_sla
from helpdesk.web.workspace.pages import SignInRequired, sign_in_url

_STATIC = Path(__file__).resolve().parent.parent / "static"
_ASSETS = {
    "workspace.js": "text/javascript; charset=utf-8",
    "workspace.css": "text/css; charset=utf-8",
}
assets = APIRouter(include_in_schema=False)


@assets.get("/workspace/static/{name}")
async def asset(name: str) -> Response:
    if name not in _ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no asset {name}")
    body = (_STATIC / name).read_bytes()
    return Response(body, media_type=_ASSETS[name], headers={"Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    for router in (
        assets,
        signin.router,
        queue.router,
        ticket.router,
        collision.router,
        dashboard.router,
        admin_channels.router,
        admin_agents.router,
        admin_routing_sla.router,
        admin_articles.router,
        admin_customers.router,
    ):
        app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def to_sign_in(_request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(sign_in_url(exc.next_path), status_code=status.HTTP_303_SEE_OTHER)
