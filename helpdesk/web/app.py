"""The FastAPI application: agent API, chat endpoints, health; the runtime starts with it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse

from helpdesk import __version__
from helpdesk.channels.email import routes as email_routes
from helpdesk.channels.telegram import routes as telegram_routes
from helpdesk.channels.webchat import routes as webchat_routes
from helpdesk.runtime import Runtime
from helpdesk.web import agent_api, complaints_api, kb_api, outbox_api, reactions_api, sla_api
from helpdesk.web.login_throttle import LoginThrottle

log = logging.getLogger(__name__)


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="helpdesk",
        version=__version__,
        description="Agent API and web chat of the helpdesk.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.login_throttle = LoginThrottle()
    app.include_router(agent_api.router)
    app.include_router(webchat_routes.router)
    app.include_router(telegram_routes.router)
    app.include_router(kb_api.router)
    app.include_router(email_routes.router)
    app.include_router(outbox_api.router)
    app.include_router(reactions_api.router)
    app.include_router(sla_api.router)
    app.include_router(complaints_api.router)

    @app.get("/api/health", tags=["meta"])
    async def health() -> dict[str, object]:
        return {
            "status": "ok" if runtime.started else "starting",
            "version": __version__,
            "database": runtime.db.engine.dialect.name,
            "chat_connections": runtime.webchat.hub.connection_count,
        }

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/chat")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "where": ".".join(str(p) for p in error["loc"]),
                "problem": error["msg"],
            }
            for error in exc.errors()
        ]
        return JSONResponse(
            {"detail": "the request is not valid", "problems": problems}, status_code=422
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)

    return app
