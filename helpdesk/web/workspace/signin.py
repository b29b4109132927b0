"""Signing in and out of the workspace with an agent's password.

The sign-in form has no session yet, so its CSRF token is a double-submit: a random value in a
SameSite=Strict cookie and the same value in the form. Signing out deletes the session's row, so
the cookie stops working at once in every process."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helpdesk.staff.sessions import end_session
from helpdesk.web.accounts_api import set_session_cookie, sign_in
from helpdesk.web.auth import SESSION_COOKIE
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.workspace.pages import check_csrf, page, safe_next

router = APIRouter(include_in_schema=False)
SIGNIN_CSRF_COOKIE = "helpdesk_signin_csrf"


def _form(request: Request, next_path: str, *, error: str = "", email: str = "") -> Response:
    token = request.cookies.get(SIGNIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = page(
        request, None, "signin.html", next=next_path, error=error, email=email, signin_csrf=token
    )
    if error:
        response.status_code = status.HTTP_401_UNAUTHORIZED
    response.set_cookie(SIGNIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/signin")
    return response


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(
    request: Request, next: Annotated[str, Query(max_length=2000)] = ""
) -> Response:
    return _form(request, safe_next(next))


@router.post("/signin")
async def signin(
    request: Request,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    target = safe_next(next)
    expected = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf_token, expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or wrong")
    try:
        _agent, token = await sign_in(request, email, password)
    except HTTPException as exc:
        return _form(request, target, error=str(exc.detail), email=email)
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(request, response, token)
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/signin")
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    await check_csrf(request)
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await end_session(session, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/signin", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE)
    return response
