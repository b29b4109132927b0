"""The email survey's page: a click on a score in the mail records it, and the page offers a
change of mind, the recommend question and a comment for a short while (`survey_answers.py`).

No login and no cookie: the signed token in the link (and in the form, as a hidden field) is the
only authority, so a form posted from another site cannot act for anyone without the link, and
there is no session a cross-site request could ride on."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from helpdesk.conversation.survey_answers import PageState, Verdict
from helpdesk.conversation.survey_links import (
    RECOMMEND_SCORES,
    SCORES,
    LinkError,
    SurveyTicket,
)
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.templating import render

router = APIRouter(include_in_schema=False)

TEMPLATE = "satisfaction_page.html"
# A comment of the longest allowed length, URL-encoded as 4-byte characters, fits easily.
MAX_FORM_BYTES = 256 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


@router.get("/satisfaction/{token}", response_class=HTMLResponse)
async def survey_link(request: Request, token: str, score: str | None = None) -> HTMLResponse:
    """The link of one score in the mail (or the page itself, without a score)."""
    runtime = runtime_of(request)
    survey = _read(request, token)
    if isinstance(survey, HTMLResponse):
        return survey
    answers, now = runtime.survey_answers, runtime.clock.now()
    if score is None:
        async with runtime.db.read() as session:
            state = await answers.look(session, survey.ticket_id, now=now)
        return _page(request, token, state)
    value = _score(score, SCORES)
    if value is None:
        return _problem(request, 400, "No such score", "A rating is a number from 1 to 5.")
    async with runtime.db.transaction() as session:
        state = await answers.rate(session, survey.ticket_id, value, now=now)
    return _page(request, token, state)


@router.post("/satisfaction", response_class=HTMLResponse)
async def survey_form(request: Request) -> HTMLResponse:
    """A button or the comment form of the page; the form carries the signed token."""
    form = await _form(request)
    if form is None:
        return _problem(request, 400, "Not a survey form", "Open the link from the mail again.")
    token = form.get("token", "")
    survey = _read(request, token)
    if isinstance(survey, HTMLResponse):
        return survey
    runtime = runtime_of(request)
    answers, now, ticket_id = runtime.survey_answers, runtime.clock.now(), survey.ticket_id
    score = _score(form["score"], SCORES) if "score" in form else None
    nps = _score(form["recommend"], RECOMMEND_SCORES) if "recommend" in form else None
    comment = form.get("comment")
    if score is None and nps is None and comment is None:
        return _problem(request, 400, "Not a survey answer", "Choose one of the buttons.")
    async with runtime.db.transaction() as session:
        if score is not None:
            state = await answers.rate(session, ticket_id, score, now=now)
        elif nps is not None:
            state = await answers.recommend(session, ticket_id, nps, now=now)
        else:
            state = await answers.comment(session, ticket_id, comment or "", now=now)
    return _page(request, token, state)


def _read(request: Request, token: str) -> SurveyTicket | HTMLResponse:
    runtime = runtime_of(request)
    try:
        return runtime.survey_links.read(token, now=runtime.clock.now())
    except LinkError as exc:
        if exc.expired:
            return _problem(
                request,
                410,
                "This link has expired",
                "The survey links work for "
                f"{runtime.settings.conversation.survey_link_days} days after the mail was sent. "
                "Thank you for wanting to answer.",
            )
        return _problem(
            request,
            400,
            "This link is not valid",
            "The link is incomplete or was changed. Open it from the mail again, or copy the "
            "whole address.",
        )


def _score(given: str, allowed: range) -> int | None:
    given = given.strip()
    if not given.isdigit() or len(given) > 2 or int(given) not in allowed:
        return None
    return int(given)


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded form, bounded in size; None when it is not one."""
    if request.headers.get("content-type", "").split(";")[0].strip() != FORM_TYPE:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode("ascii"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}


def _page(request: Request, token: str, state: PageState) -> HTMLResponse:
    runtime = runtime_of(request)
    settings = runtime.settings.conversation
    status = 404 if state.verdict == Verdict.REFUSED else 200
    context: dict[str, Any] = {
        "state": state,
        "verdict": state.verdict.value,
        "token": token,
        "scores": list(SCORES),
        "recommend_scores": list(RECOMMEND_SCORES),
        "ask_recommend": settings.recommend_question,
        "comment_max_chars": settings.survey_comment_max_chars,
        "team_name": runtime.settings.email.from_name,
        "problem": None,
    }
    return HTMLResponse(render(runtime.templates, TEMPLATE, **context), status_code=status)


def _problem(request: Request, status: int, title: str, text: str) -> HTMLResponse:
    runtime = runtime_of(request)
    context = {
        "problem": {"title": title, "text": text},
        "team_name": runtime.settings.email.from_name,
    }
    return HTMLResponse(render(runtime.templates, TEMPLATE, **context), status_code=status)
