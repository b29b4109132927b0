"""Reading articles as people browse them: agents see published ones, editors drafts too."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.kb.models import Article, ArticleStatus


@dataclass(frozen=True, slots=True)
class ArticlePage:
    articles: list[Article]
    # All the articles the filter matches, not only this page's.
    total: int


async def article_page(
    session: AsyncSession,
    *,
    with_drafts: bool,
    status: ArticleStatus | None = None,
    language: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> ArticlePage:
    """Articles in id order, filtered by status and language."""
    conditions: list[ColumnElement[bool]] = []
    if not with_drafts:
        conditions.append(Article.status == ArticleStatus.PUBLISHED)
    if status is not None:
        conditions.append(Article.status == status)
    if language:
        conditions.append(Article.language == language.lower())
    total = await session.scalar(select(func.count()).select_from(Article).where(*conditions))
    rows = await session.scalars(
        select(Article).where(*conditions).order_by(Article.id).limit(limit).offset(offset)
    )
    return ArticlePage(list(rows), total or 0)


async def find_article(
    session: AsyncSession, article_id: int, *, with_drafts: bool
) -> Article | None:
    """The article, or None if there is none or it is unpublished and drafts are hidden."""
    article = await session.get(Article, article_id)
    if article is None or (not with_drafts and article.status != ArticleStatus.PUBLISHED):
        return None
    return article
