"""Articles as a folder of Markdown files with YAML front matter, in and out.

    ---
    title: Reset your password
    language: en
    status: published            # or draft (the default for new files is published)
    tags: [account, login]
    phrasings:
      - I forgot my password
      - how do I change my password
    ---
    Open **Settings → Security** and choose *Reset password*.

The file's name (without `.md`) is the article's slug unless the front matter gives one;
importing updates the article with that slug, or creates it. A file that cannot be read is
reported with its reason and skipped; the others are imported.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from sqlalchemy import select
from tqdm import tqdm

from helpdesk.common.clock import Clock
from helpdesk.kb import articles as kb_articles
from helpdesk.kb.articles import ArticleError, ArticleFields, slugify
from helpdesk.kb.models import Article, ArticleStatus
from helpdesk.storage.database import Database

MAX_FILE_BYTES = 1024 * 1024
# Below this many files a progress bar is noise.
PROGRESS_FROM = 50
FIELDS = {"title", "slug", "language", "status", "tags", "phrasings"}


@dataclass(slots=True)
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


def parse_file(path: Path) -> ArticleFields:
    """An article's fields from one file, or ArticleError saying what is wrong with it."""
    raw = path.read_bytes()
    if len(raw) > MAX_FILE_BYTES:
        raise ArticleError(f"file is {len(raw)} bytes; the limit is {MAX_FILE_BYTES}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ArticleError("not UTF-8 text") from None
    if "\x00" in text:
        raise ArticleError("binary content (NUL bytes)")
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        raise ArticleError(f"front matter is not valid YAML: {_first_line(exc)}") from None
    meta: dict[str, Any] = dict(post.metadata)
    unknown = sorted(set(meta) - FIELDS - {"helpful_count", "not_helpful_count", "uses"})
    if unknown:
        raise ArticleError(f"unknown front matter field(s): {', '.join(unknown)}")
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ArticleError("front matter needs a 'title' (text)")
    status = meta.get("status", ArticleStatus.PUBLISHED.value)
    try:
        status = ArticleStatus(status)
    except ValueError:
        raise ArticleError("status must be 'draft' or 'published'") from None
    for name in ("tags", "phrasings"):
        if not isinstance(meta.get(name, []), list):
            raise ArticleError(f"{name} must be a list")
    slug = meta.get("slug", slugify(path.stem))
    if not isinstance(slug, str):
        raise ArticleError("slug must be text")
    language = meta.get("language", "en")
    if not isinstance(language, str):
        raise ArticleError("language must be text such as en or de")
    return ArticleFields(
        title=title,
        body=post.content,
        language=language,
        tags=[str(t) if isinstance(t, int | float) else t for t in meta.get("tags", [])],
        phrasings=list(meta.get("phrasings", [])),
        status=status,
        slug=slug,
    )


async def import_folder(
    db: Database, folder: Path, clock: Clock, *, progress: bool = True
) -> ImportReport:
    paths = markdown_files(folder)
    report = ImportReport()
    seen: dict[str, Path] = {}
    bar = tqdm(paths, unit="file", disable=not progress or len(paths) < PROGRESS_FROM)
    async with db.transaction() as session:
        # One file's failure undoes that file alone (its savepoint), and the import commits once.
        await db.ready_for_savepoints(session)
        for path in bar:
            name = str(path.relative_to(folder))
            try:
                fields = parse_file(path)
                assert fields.slug is not None
                if fields.slug in seen:
                    raise ArticleError(f"slug {fields.slug!r} is also used by {seen[fields.slug]}")
                seen[fields.slug] = path
                async with session.begin_nested():
                    existing = await session.scalar(
                        select(Article).where(Article.slug == fields.slug)
                    )
                    if existing is None:
                        await kb_articles.create(session, fields, now=clock.now())
                        report.created += 1
                    elif kb_articles.would_change(existing, fields):
                        await kb_articles.update_article(session, existing, fields, now=clock.now())
                        report.updated += 1
                    else:
                        report.unchanged += 1
            except (ArticleError, OSError) as exc:
                report.errors.append((name, str(exc)))
    return report


def markdown_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.md") if p.is_file())


def write_file(folder: Path, slug: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{slug}.md").write_text(text + "\n", encoding="utf-8")


async def export_folder(db: Database, folder: Path) -> int:
    count = 0
    async with db.read() as session:
        rows = await session.stream_scalars(select(Article).order_by(Article.id))
        async for article in rows:
            post = frontmatter.Post(
                article.body,
                title=article.title,
                slug=article.slug,
                language=article.language,
                status=article.status.value,
                tags=list(article.tags or []),
                phrasings=list(article.phrasings or []),
            )
            text = frontmatter.dumps(post, sort_keys=False, allow_unicode=True)
            write_file(folder, article.slug, text)
            count += 1
    return count


def _first_line(exc: Exception) -> str:
    with contextlib.suppress(IndexError):
        return str(exc).strip().splitlines()[0]
    return type(exc).__name__
