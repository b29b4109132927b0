"""Knowledge-base events, recorded with the change and handed on after the commit."""

from __future__ import annotations

from dataclasses import dataclass

from helpdesk.events.types import Event


@dataclass(frozen=True, slots=True)
class ArticleVoted(Event):
    """A customer or an agent said whether an article helped."""

    article_id: int
    helped: bool


@dataclass(frozen=True, slots=True)
class ArticlesChanged(Event):
    """Articles were created, changed or deleted: the suggestion index must follow."""
