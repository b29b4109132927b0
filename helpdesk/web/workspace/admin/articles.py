"""Articles: the list (drafts too), and one article's editor with a preview rendered on the
server exactly as agents and customers will see it (`kb.render.to_html`: Markdown, then nh3).
Saving goes through `/api/kb/articles`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse, Response

from helpdesk.kb import articles as kb_articles
from helpdesk.kb.models import ArticleStatus
from helpdesk.kb.render import to_html
from helpdesk.web import kb_api
from helpdesk.web.schemas import MAX_ID
from helpdesk.web.workspace.pages import PageAgent, check_csrf, overseers_only, page

router = APIRouter(include_in_schema=False)
LISTED = 500


@router.get("/workspace/admin/articles", response_class=HTMLResponse)
async def articles_page(request: Request, agent: PageAgent) -> Response:
    if (answer := overseers_only(request, agent)) is not None:
        return answer
    listed = await kb_api.list_articles(agent, request, limit=LISTED)
    return page(request, agent, "admin/articles.html", is_admin=True, listed=listed)


@router.get("/workspace/admin/articles/new", response_class=HTMLResponse)
async def new_article_page(request: Request, agent: PageAgent) -> Response:
    if (answer := overseers_only(request, agent)) is not None:
        return answer
    return page(
        request,
        agent,
        "admin/article.html",
        is_admin=True,
        article=None,
        statuses=list(ArticleStatus),
        preview="",
    )


@router.get("/workspace/admin/articles/{article_id}", response_class=HTMLResponse)
async def article_page(
    request: Request, agent: PageAgent, article_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> Response:
    if (answer := overseers_only(request, agent)) is not None:
        return answer
    article = await kb_api.read_article(article_id, agent, request)
    return page(
        request,
        agent,
        "admin/article.html",
        is_admin=True,
        article=article,
        statuses=list(ArticleStatus),
        preview=article.html,
    )


@router.post("/workspace/admin/articles/preview", response_class=HTMLResponse)
async def preview(request: Request, agent: PageAgent) -> Response:
    """The body as it will show, sanitised; nothing is saved."""
    form = await check_csrf(request)
    if overseers_only(request, agent) is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "supervisors and admins edit articles")
    body = str(form.get("body", ""))[: kb_articles.MAX_BODY_CHARS]
    return HTMLResponse(to_html(body), headers={"Cache-Control": "no-store"})
