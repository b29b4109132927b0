"""Articles in storage: the index follows every change without a restart (in this process at
once, in other processes when they next suggest), and a folder of Markdown files goes in and
comes back out unchanged."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from helpdesk.common.clock import SystemClock
from helpdesk.kb import articles as kb_articles
from helpdesk.kb.articles import ArticleFields
from helpdesk.kb.files import export_folder, import_folder, parse_file
from helpdesk.kb.index import IndexedArticle, SuggestionIndex
from helpdesk.kb.models import Article, ArticleStatus
from helpdesk.runtime import Runtime
from helpdesk.storage.database import Database
from tests.kb_articles import ARTICLE_FILES


async def best_for(runtime: Runtime, text: str) -> int | None:
    async with runtime.db.read() as session:
        found = await runtime.kb.service.suggest(session, text)
    return found[0].article_id if found else None


async def eventually(runtime: Runtime, text: str, expected: int | None) -> None:
    async with asyncio.timeout(60):
        while await best_for(runtime, text) != expected:
            await asyncio.sleep(0.1)


async def test_the_index_follows_article_changes_without_a_restart(runtime: Runtime):
    assert await best_for(runtime, "how do I freeze my card") is None
    async with runtime.db.transaction() as session:
        article = await kb_articles.create(
            session,
            ArticleFields(
                title="Freeze your card",
                phrasings=["how do I freeze my card", "block my card"],
                status=ArticleStatus.PUBLISHED,
            ),
            now=runtime.clock.now(),
        )
        other = await kb_articles.create(
            session,
            ArticleFields(title="Opening hours", phrasings=["when are you open"]),
            now=runtime.clock.now(),
        )
    await runtime.events.idle()
    await eventually(runtime, "how do I freeze my card", article.id)
    # A draft is never suggested; publishing it makes it so.
    assert await best_for(runtime, "when are you open") != other.id
    async with runtime.db.transaction() as session:
        stored = await session.get(Article, other.id)
        await kb_articles.update_article(
            session, stored, ArticleFields(status=ArticleStatus.PUBLISHED), now=runtime.clock.now()
        )
    await runtime.events.idle()
    await eventually(runtime, "when are you open", other.id)
    # New phrasings are learnt; a deleted article disappears.
    async with runtime.db.transaction() as session:
        stored = await session.get(Article, article.id)
        await kb_articles.update_article(
            session,
            stored,
            ArticleFields(phrasings=["how do I freeze my card", "my wallet was stolen"]),
            now=runtime.clock.now(),
        )
    await runtime.events.idle()
    await eventually(runtime, "my wallet was stolen", article.id)
    async with runtime.db.transaction() as session:
        await kb_articles.delete(session, await session.get(Article, article.id))
    await runtime.events.idle()
    async with asyncio.timeout(60):
        while await best_for(runtime, "my wallet was stolen") == article.id:
            await asyncio.sleep(0.1)


async def test_changes_made_by_another_process_are_picked_up(runtime: Runtime):
    # Another helpdesk process: its own engine, and no event reaches this runtime's bus.
    elsewhere = Database(runtime.settings.database_url)
    try:
        async with elsewhere.transaction() as session:
            article = await kb_articles.create(
                session,
                ArticleFields(
                    title="Change your address",
                    phrasings=["I moved house", "update my address"],
                    status=ArticleStatus.PUBLISHED,
                ),
                now=SystemClock().now(),
            )
    finally:
        await elsewhere.dispose()
    await eventually(runtime, "I moved house, update my address please", article.id)


async def test_import_export_round_trip_and_bad_files(runtime: Runtime, tmp_path: Path):
    source = tmp_path / "articles"
    source.mkdir()
    for name, text in ARTICLE_FILES.items():
        (source / name).write_text(text, encoding="utf-8")
    (source / "no-title.md").write_text("---\nlanguage: en\n---\nBody\n", encoding="utf-8")
    (source / "broken.md").write_text("---\ntitle: [unclosed\n---\nBody\n", encoding="utf-8")
    (source / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    (source / "status.md").write_text("---\ntitle: T\nstatus: maybe\n---\n", encoding="utf-8")

    report = await import_folder(runtime.db, source, runtime.clock, progress=False)
    assert (report.created, report.updated) == (3, 0)
    assert dict(report.errors) == {
        "binary.md": "not UTF-8 text",
        "broken.md": report.errors[1][1],
        "no-title.md": "front matter needs a 'title' (text)",
        "status.md": "status must be 'draft' or 'published'",
    }
    assert report.errors[1][1].startswith("front matter is not valid YAML")

    async with runtime.db.read() as session:
        card = await session.scalar(select(Article).where(Article.slug == "card-delivery"))
    assert card.title == "Where is my card?" and card.status == ArticleStatus.PUBLISHED
    assert card.tags == ["cards"] and len(card.phrasings) == 3
    await runtime.events.idle()
    await eventually(runtime, "my new card has not arrived", card.id)

    first = tmp_path / "export-1"
    assert await export_folder(runtime.db, first) == 3
    again = await import_folder(runtime.db, first, runtime.clock, progress=False)
    # Nothing differs, so nothing is reported (or stored) as updated.
    assert (again.created, again.updated, again.unchanged, again.errors) == (0, 0, 3, [])
    second = tmp_path / "export-2"
    await export_folder(runtime.db, second)
    for path in sorted(first.iterdir()):
        assert (second / path.name).read_text() == path.read_text()
    async with runtime.db.read() as session:
        back = await session.scalar(select(Article).where(Article.slug == "card-delivery"))
    assert (back.id, back.title, back.body, back.tags, back.phrasings, back.language) == (
        card.id,
        card.title,
        card.body,
        card.tags,
        card.phrasings,
        card.language,
    )


async def test_kb_import_builds_the_same_index_as_the_bench(runtime: Runtime, tmp_path: Path):
    """`kb import` numbers articles in file-name order and the server loads them by id; the
    bench builds its index in its own order with its own ids. The suggestions are the same."""
    source = tmp_path / "articles"
    source.mkdir()
    # Names that sort the other way round from the titles, so the ids do too.
    for number, (name, text) in enumerate(sorted(ARTICLE_FILES.items(), reverse=True)):
        (source / f"{number}-{name}").write_text(text, encoding="utf-8")
    report = await import_folder(runtime.db, source, runtime.clock, progress=False)
    assert report.created == len(ARTICLE_FILES)
    await runtime.events.idle()
    async with asyncio.timeout(60):
        while (index := runtime.kb.service.index) is None or len(index) < len(ARTICLE_FILES):
            await asyncio.sleep(0.1)

    fields = sorted(
        (parse_file(source / n) for n in sorted(p.name for p in source.iterdir())),
        key=lambda f: f.title or "",
    )
    bench = SuggestionIndex(
        [
            IndexedArticle(number, f.title or "", f.language or "en", tuple(f.phrasings or ()))
            for number, f in enumerate(fields, start=1)
        ]
    )
    for message in ("my new card has not arrived", "I forgot my pasword", "cancel my transfer"):
        async with runtime.db.read() as session:
            served = await runtime.kb.service.suggest(session, message)
        benched = bench.rank(message)
        assert [s.title for s in served] == [s.title for s in benched], message
        for a, b in zip(served, benched, strict=True):
            assert abs(a.confidence - b.confidence) <= 1e-6
