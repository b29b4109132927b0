"""`GET /metrics` (Prometheus) and `GET /api/ready` (readiness with reasons)."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response

from helpdesk.operations.metrics import CONTENT_TYPE
from helpdesk.operations.readiness import readiness
from helpdesk.web.dependencies import runtime_of

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    _allowed(request, runtime.settings.operations.metrics_token.get_secret_value())
    return Response(await runtime.metrics.exposition(), media_type=CONTENT_TYPE)


@router.get("/api/ready", tags=["meta"])
async def ready(request: Request) -> JSONResponse:
    """200 when this process can do its work; 503 with the reason of each failed check."""
    answer = await readiness(runtime_of(request))
    return JSONResponse(answer, status_code=200 if answer["ready"] else 503)


def _allowed(request: Request, token: str) -> None:
    """With a token, only a request bearing it; without one, only clients on this machine (the
    address uvicorn reports, which is the forwarded one behind a trusted proxy)."""
    if token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required")
        return
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "metrics are served to this machine only; set HELPDESK_OPERATIONS__METRICS_TOKEN "
            "to scrape from elsewhere",
        )
