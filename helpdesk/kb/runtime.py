"""The knowledge base's parts, wired together for the composition root (`helpdesk.runtime`)."""

from __future__ import annotations

from helpdesk.kb.bot import KbAnswerBot
from helpdesk.kb.events import ArticlesChanged, ArticleVoted
from helpdesk.kb.index import RankerSettings
from helpdesk.kb.service import KnowledgeBase
from helpdesk.kb.settings import KbSettings
from helpdesk.storage.database import Database


class KnowledgeBaseRuntime:
    def __init__(self, db: Database, settings: KbSettings) -> None:
        self.settings = settings
        self.service = KnowledgeBase(
            db, RankerSettings(linear_max_articles=settings.linear_max_articles)
        )
        self.bot = KbAnswerBot(self.service, settings.bot_threshold)

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()

    async def on_articles_changed(self, _event: ArticlesChanged) -> None:
        """Every process rebuilds its own suggestion index (a broadcast)."""
        self.service.changed()

    async def on_vote(self, event: ArticleVoted) -> None:
        self.service.note_vote(event.article_id, event.helped)
