"""The knowledge base as a running service: holds the current suggestion index and replaces it
when the articles change, without a restart and without blocking the event loop.

Every change to the articles bumps `kb_state.version` in the same transaction. A process builds
a new index in a worker thread whenever it sees a version newer than the one it holds (after its
own changes at once; other processes' changes on its next suggestion), and swaps it in whole, so
a suggestion always reads one consistent index.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.kb.articles import current_version
from helpdesk.kb.index import (
    IndexedArticle,
    RankerSettings,
    Ranking,
    Suggestion,
    SuggestionIndex,
)
from helpdesk.kb.models import Article, ArticleStatus
from helpdesk.storage.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BuildReport:
    version: int
    articles: int
    seconds: float


class KnowledgeBase:
    def __init__(self, db: Database, ranker: RankerSettings | None = None) -> None:
        self._db = db
        self._ranker = ranker or RankerSettings()
        self._index: SuggestionIndex | None = None
        self._building: asyncio.Task[None] | None = None
        # A version whose build failed is not retried on every suggestion; the next change is.
        self._failed_version = -1
        self.last_build: BuildReport | None = None

    @property
    def index(self) -> SuggestionIndex | None:
        return self._index

    @property
    def version(self) -> int:
        return self._index.version if self._index is not None else -1

    @property
    def has_articles(self) -> bool:
        return self._index is not None and len(self._index) > 0

    async def start(self, wait_seconds: float = 5.0) -> None:
        """Build the first index, waiting a little for it so that the bot answers from the first
        message; a large knowledge base goes on building while the server starts serving (until
        then tickets go to people as without a bot)."""
        self.changed()
        assert self._building is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._building), wait_seconds)

    async def stop(self) -> None:
        if self._building is not None:
            self._building.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._building
            self._building = None

    def changed(self) -> None:
        """Articles changed (call after the commit): rebuild in the background, until the index
        is of the newest version."""
        if self._building is None or self._building.done():
            self._building = asyncio.create_task(self._rebuild_until_current(), name="kb-rebuild")

    async def refresh_if_stale(self, session: AsyncSession) -> None:
        """Another process may have changed the articles: one small read tells."""
        version = await current_version(session)
        if version > self.version and version != self._failed_version:
            self.changed()

    async def suggest(
        self, session: AsyncSession, text: str, *, language: str | None = None, limit: int = 3
    ) -> list[Suggestion]:
        await self.refresh_if_stale(session)
        index = self._index
        if index is None:
            return []
        return index.rank(text, language=language, limit=limit)

    async def ranking(
        self, session: AsyncSession, text: str, *, language: str | None = None, limit: int = 3
    ) -> Ranking:
        """The suggestions and the evidence for the best one, as the bot weighs them."""
        await self.refresh_if_stale(session)
        index = self._index
        if index is None:
            return Ranking([], None)
        return index.ranking(text, language=language, limit=limit)

    def note_vote(self, article_id: int, helped: bool) -> None:
        """Votes move an article's prior at once; a rebuild reads the stored counts anyway."""
        if self._index is not None:
            self._index.add_vote(article_id, helped)

    async def _rebuild_until_current(self) -> None:
        while True:
            async with self._db.read() as session:
                version = await current_version(session)
            if version <= self.version and self._index is not None:
                return
            try:
                await self._build(version)
            except Exception:
                self._failed_version = version
                log.exception("knowledge base index rebuild failed; the old index stays in use")
                return

    async def _build(self, version: int) -> None:
        async with self._db.read() as session:
            rows = (
                await session.scalars(
                    select(Article)
                    .where(Article.status == ArticleStatus.PUBLISHED)
                    .order_by(Article.id)
                )
            ).all()
            articles = [
                IndexedArticle(
                    id=a.id,
                    title=a.title,
                    language=a.language,
                    phrasings=tuple(a.phrasings or ()),
                    helpful=a.helpful_count,
                    not_helpful=a.not_helpful_count,
                )
                for a in rows
            ]
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        index = await loop.run_in_executor(None, SuggestionIndex, articles, self._ranker)
        index.version = version
        self._index = index
        self.last_build = BuildReport(version, len(articles), time.perf_counter() - started)
        log.info(
            "knowledge base index v%s: %s articles in %.2f s",
            version,
            len(articles),
            self.last_build.seconds,
        )
