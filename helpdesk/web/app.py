"""The FastAPI application: agent API, chat endpoints, health; the runtime starts with it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp

from helpdesk import __version__
from helpdesk.channels.email import routes as email_routes
from helpdesk.channels.telegram import routes as telegram_routes
from helpdesk.channels.webchat import routes as webchat_routes
from helpdesk.common.security import PasswordHashingBusy, hash_slots
from helpdesk.operations import routes as operations_routes
from helpdesk.operations.logs import RequestIdMiddleware
from helpdesk.runtime import Runtime
from helpdesk.web import (
    accounts_api,
    agent_api,
    complaints_api,
    customer_accounts_api,
    docs,
    kb_api,
    kb_bot_api,
    opening_api,
    outbox_api,
    reactions_api,
    reports_api,
    routing_api,
    sla_api,
)
from helpdesk.web.protection.headers import SecurityHeaders
from helpdesk.web.workspace import routes as workspace_routes

log = logging.getLogger(__name__)


class _HelpdeskApp(FastAPI):
    """FastAPI with the security headers outside its whole stack, so that even the 500 answer
    of an unexpected error (made by the outermost error middleware) carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        runtime: Runtime = self.state.runtime
        protection = runtime.settings.protection
        return SecurityHeaders(
            super().build_middleware_stack(),
            public_url=runtime.settings.public_url,
            frame_ancestors=protection.frame_ancestors,
            hsts_max_age=protection.hsts_max_age_seconds,
        )


def create_app(runtime: Runtime, *, drain_seconds: float = 5.0) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop(drain_seconds)

    app = _HelpdeskApp(
        title="helpdesk",
        version=__version__,
        description="Agent API and web chat of the helpdesk.",
        lifespan=lifespan,
        # /docs is served from local files (web/docs.py); ReDoc would need a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    protection = runtime.settings.protection
    hash_slots.configure(protection.password_hash_concurrency, protection.password_hash_queue)
    app.include_router(docs.router)
    app.include_router(accounts_api.router)
    app.include_router(agent_api.router)
    app.include_router(opening_api.router)
    app.include_router(webchat_routes.router)
    app.include_router(telegram_routes.router)
    app.include_router(kb_api.router)
    app.include_router(kb_bot_api.router)
    app.include_router(email_routes.router)
    app.include_router(email_routes.recipients_router)
    app.include_router(outbox_api.router)
    app.include_router(reactions_api.router)
    app.include_router(routing_api.router)
    app.include_router(operations_routes.router)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(sla_api.router)
    app.include_router(complaints_api.router)
    workspace_routes.install(app)
    app.include_router(reports_api.router)
    app.include_router(customer_accounts_api.router)

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

    @app.exception_handler(PasswordHashingBusy)
    async def hashing_busy(_request: Request, exc: PasswordHashingBusy) -> JSONResponse:
        # Answered late for the same reason as a throttled login (web/accounts_api.py).
        await asyncio.sleep(runtime.settings.accounts.refusal_delay_seconds)
        return JSONResponse(
            {"detail": str(exc)},
            status_code=503,
            headers={"Retry-After": str(exc.retry_after_seconds)},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)

    return app
