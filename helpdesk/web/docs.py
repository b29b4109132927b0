"""/docs without the internet: Swagger UI's files come from the `fastapi-swagger` package (kept
up to date on PyPI) and are served by the helpdesk, instead of FastAPI's default CDN page.

No inline script: the page loads `static/docs.js`, which starts Swagger UI and authorises the
page after a login made from it (bearer token and CSRF header), so an agent can reply from it.
"""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
_STATIC = Path(__file__).parent / "static"


def _page(title: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)} - API</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs.js"></script>
</body>
</html>
"""


@router.get("/docs")
async def docs() -> HTMLResponse:
    return HTMLResponse(_page("helpdesk"))


@router.get("/docs/assets/{name}")
async def docs_asset(name: str) -> Response:
    cache = {"Cache-Control": "public, max-age=86400"}
    if name == "docs.js":
        body = (_STATIC / "docs.js").read_bytes()
        return Response(body, media_type="text/javascript; charset=utf-8", headers=cache)
    if name not in _ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no asset {name}")
    body = files("fastapi_swagger").joinpath("resources", name).read_bytes()
    return Response(body, media_type=_ASSETS[name], headers=cache)
