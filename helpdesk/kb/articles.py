"""Creating, changing and counting articles. Every change bumps the knowledge-base version, so
each process rebuilds its suggestion index (see `helpdesk.kb.service`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.common.sanitize import clean_text
from helpdesk.kb.events import ArticlesChanged, ArticleVoted
from helpdesk.kb.models import Article, ArticleStatus, ArticleVote, KbState
from helpdesk.storage.event_log import record

MAX_PHRASINGS = 2000
MAX_PHRASING_CHARS = 500
MAX_TAGS = 50
MAX_BODY_CHARS = 200_000
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,119}$")


class ArticleError(Exception):
    """An article cannot be saved as given; the message says which field and why."""


@dataclass(slots=True)
class ArticleFields:
    """What an editor or an imported file provides; None leaves a field unchanged on update."""

    title: str | None = None
    body: str | None = None
    language: str | None = None
    tags: list[str] | None = None
    phrasings: list[str] | None = None
    status: ArticleStatus | None = None
    slug: str | None = None


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:80]
    return slug or "article"


def _clean_list(values: Iterable[object], name: str, limit: int, item_chars: int) -> list[str]:
    cleaned: list[str] = []
    seen: set[str] = set()
    for value in values:
        if not isinstance(value, str):
            raise ArticleError(f"{name} must be a list of strings")
        text = " ".join(clean_text(value).split())[:item_chars]
        if text and text.lower() not in seen:
            seen.add(text.lower())
            cleaned.append(text)
    if len(cleaned) > limit:
        raise ArticleError(f"{name}: at most {limit} allowed, got {len(cleaned)}")
    return cleaned


def _validate(fields: ArticleFields) -> ArticleFields:
    if fields.title is not None:
        fields.title = " ".join(clean_text(fields.title).split())
        if not fields.title:
            raise ArticleError("title must not be empty")
        if len(fields.title) > 200:
            raise ArticleError("title: at most 200 characters")
    if fields.body is not None:
        fields.body = clean_text(fields.body)
        if len(fields.body) > MAX_BODY_CHARS:
            raise ArticleError(f"body: at most {MAX_BODY_CHARS} characters")
    if fields.language is not None:
        fields.language = fields.language.strip().lower()
        if not LANGUAGE.match(fields.language):
            raise ArticleError("language must be a language code such as en, de or pt-br")
    if fields.tags is not None:
        fields.tags = _clean_list(fields.tags, "tags", MAX_TAGS, 50)
    if fields.phrasings is not None:
        fields.phrasings = _clean_list(
            fields.phrasings, "phrasings", MAX_PHRASINGS, MAX_PHRASING_CHARS
        )
    if fields.slug is not None and not SLUG.match(fields.slug):
        raise ArticleError("slug: lower-case letters, digits and dashes, at most 120")
    return fields


async def bump_version(session: AsyncSession) -> None:
    """Articles changed: every process's suggestion index follows (`ArticlesChanged`)."""
    await session.execute(
        update(KbState).where(KbState.id == 1).values(version=KbState.version + 1)
    )
    record(session, ArticlesChanged())


async def current_version(session: AsyncSession) -> int:
    return int(await session.scalar(select(KbState.version).where(KbState.id == 1)) or 0)


async def _free_slug(session: AsyncSession, wanted: str) -> str:
    taken = set(await session.scalars(select(Article.slug).where(Article.slug.startswith(wanted))))
    if wanted not in taken:
        return wanted
    number = 2
    while f"{wanted}-{number}" in taken:
        number += 1
    return f"{wanted}-{number}"


async def create(session: AsyncSession, fields: ArticleFields, *, now: datetime) -> Article:
    fields = _validate(fields)
    if not fields.title:
        raise ArticleError("title must not be empty")
    slug = fields.slug or slugify(fields.title)
    if fields.slug is not None:
        if await session.scalar(select(Article.id).where(Article.slug == slug)) is not None:
            raise ArticleError(f"slug {slug!r} is taken")
    else:
        slug = await _free_slug(session, slug)
    article = Article(
        slug=slug,
        title=fields.title,
        body=fields.body or "",
        language=fields.language or "en",
        tags=fields.tags or [],
        phrasings=fields.phrasings or [],
        status=fields.status or ArticleStatus.DRAFT,
        helpful_count=0,
        not_helpful_count=0,
        uses=0,
        created_at=now,
        updated_at=now,
    )
    session.add(article)
    await session.flush()
    await bump_version(session)
    return article


_EDITABLE = ("title", "body", "language", "tags", "phrasings", "status")


def would_change(article: Article, fields: ArticleFields) -> bool:
    """Whether `update_article` with these fields would change anything (an import of an
    unchanged file reports it unchanged and leaves the article and the index alone)."""
    fields = _validate(fields)
    if fields.slug is not None and fields.slug != article.slug:
        return True
    return any(
        getattr(fields, name) is not None and getattr(fields, name) != getattr(article, name)
        for name in _EDITABLE
    )


async def update_article(
    session: AsyncSession, article: Article, fields: ArticleFields, *, now: datetime
) -> Article:
    fields = _validate(fields)
    if fields.slug is not None and fields.slug != article.slug:
        clash = await session.scalar(select(Article.id).where(Article.slug == fields.slug))
        if clash is not None:
            raise ArticleError(f"slug {fields.slug!r} is taken")
        article.slug = fields.slug
    for name in _EDITABLE:
        value = getattr(fields, name)
        if value is not None:
            setattr(article, name, value)
    article.updated_at = now
    await bump_version(session)
    return article


async def delete(session: AsyncSession, article: Article) -> None:
    await session.delete(article)
    await bump_version(session)


async def vote(session: AsyncSession, article: Article, helped: bool) -> None:
    """Votes move the article's ranking prior. No rebuild: every process adjusts its index
    (`ArticleVoted`)."""
    if helped:
        article.helpful_count += 1
    else:
        article.not_helpful_count += 1
    record(session, ArticleVoted(article.id, helped))


async def agent_vote(
    session: AsyncSession, article: Article, agent_id: int, helped: bool, now: datetime
) -> bool:
    """One vote per agent per article: False (and nothing counted) if the agent has voted on
    it already. Two votes at one instant collide on the table's key at commit."""
    earlier = await session.get(ArticleVote, (article.id, agent_id))
    if earlier is not None:
        return False
    session.add(ArticleVote(article_id=article.id, agent_id=agent_id, helpful=helped, voted_at=now))
    await vote(session, article, helped)
    return True


async def count_use(session: AsyncSession, article_id: int) -> None:
    # Uses are statistics; the ranking does not read them, so no rebuild.
    await session.execute(
        update(Article).where(Article.id == article_id).values(uses=Article.uses + 1)
    )
