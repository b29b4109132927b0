"""The knowledge base in the agent API: articles (managed by supervisors and admins, read by
agents), suggestions for a ticket, inserting an article into a reply, votes, and turning a good
reply into a draft article."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers import queries as customers
from helpdesk.kb import articles as kb_articles
from helpdesk.kb import catalog
from helpdesk.kb.articles import ArticleError, ArticleFields
from helpdesk.kb.index import Suggestion
from helpdesk.kb.models import Article, ArticleStatus
from helpdesk.kb.render import to_html, to_text
from helpdesk.staff.models import Agent
from helpdesk.staff.permissions import sees_all
from helpdesk.tickets import actions as tickets
from helpdesk.tickets import queries
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.visibility import TicketNotFound, visible_ticket
from helpdesk.web.auth import CurrentAgent, Overseer
from helpdesk.web.dependencies import runtime_of
from helpdesk.web.schemas import MAX_ID, CleanStr

T = TypeVar("T")
router = APIRouter(prefix="/api", tags=["knowledge base"])
ArticleId = Annotated[int, Path(ge=1, le=MAX_ID, description="The article's id")]
TicketNumber = Annotated[int, Path(ge=1, le=MAX_ID, description="The ticket number")]
Phrasing = Annotated[CleanStr, Field(max_length=kb_articles.MAX_PHRASING_CHARS)]
Tag = Annotated[CleanStr, Field(max_length=50)]


class ArticleIn(BaseModel):
    title: CleanStr = Field(min_length=1, max_length=200)
    body: CleanStr = Field("", max_length=kb_articles.MAX_BODY_CHARS)
    language: str = Field("en", max_length=16)
    tags: list[Tag] = Field(default_factory=list, max_length=kb_articles.MAX_TAGS)
    phrasings: list[Phrasing] = Field(default_factory=list, max_length=kb_articles.MAX_PHRASINGS)
    status: ArticleStatus = ArticleStatus.DRAFT
    slug: str | None = Field(None, max_length=120)


class ArticlePatch(BaseModel):
    title: CleanStr | None = Field(None, min_length=1, max_length=200)
    body: CleanStr | None = Field(None, max_length=kb_articles.MAX_BODY_CHARS)
    language: str | None = Field(None, max_length=16)
    tags: list[Tag] | None = Field(None, max_length=kb_articles.MAX_TAGS)
    phrasings: list[Phrasing] | None = Field(None, max_length=kb_articles.MAX_PHRASINGS)
    status: ArticleStatus | None = None
    slug: str | None = Field(None, max_length=120)


class ArticleOut(BaseModel):
    id: int
    slug: str
    title: str
    body: str
    html: str
    language: str
    tags: list[str]
    phrasings: list[str]
    status: ArticleStatus
    helpful_count: int
    not_helpful_count: int
    uses: int
    created_at: datetime
    updated_at: datetime


class ArticleList(BaseModel):
    articles: list[ArticleOut]
    total: int


class SuggestionOut(BaseModel):
    article_id: int
    title: str
    language: str
    confidence: float = Field(description="0 to 1: how sure the ranking is that this answers")
    reason: str = Field(description="The known phrasing or terms that matched")


class TicketSuggestions(BaseModel):
    message_id: int | None = Field(description="The customer message the suggestions answer")
    suggestions: list[SuggestionOut]


class InsertIn(BaseModel):
    article_id: int = Field(ge=1, le=MAX_ID)
    send: bool = Field(False, description="Send it as the reply now instead of returning it")


class InsertOut(BaseModel):
    article_id: int
    text: str = Field(description="The article as plain text, ready for the reply box")
    message_id: int | None = Field(None, description="The reply, when `send` was true")


class VoteIn(BaseModel):
    helpful: bool


class DraftIn(BaseModel):
    message_id: int = Field(ge=1, le=MAX_ID, description="The agent reply to turn into an article")
    title: CleanStr | None = Field(None, min_length=1, max_length=200)


def article_out(article: Article) -> ArticleOut:
    return ArticleOut(
        id=article.id,
        slug=article.slug,
        title=article.title,
        body=article.body,
        html=to_html(article.body),
        language=article.language,
        tags=list(article.tags or []),
        phrasings=list(article.phrasings or []),
        status=article.status,
        helpful_count=article.helpful_count,
        not_helpful_count=article.not_helpful_count,
        uses=article.uses,
        created_at=article.created_at,
        updated_at=article.updated_at,
    )


async def _checked(operation: Awaitable[T]) -> T:
    try:
        return await operation
    except ArticleError as exc:
        raise HTTPException(422, str(exc)) from None


async def _article(session: AsyncSession, agent: Agent, article_id: int) -> Article:
    # Drafts are for the editors: to an agent they do not exist.
    article = await catalog.find_article(session, article_id, with_drafts=sees_all(agent))
    if article is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no article {article_id}")
    return article


async def _ticket(session: AsyncSession, agent: Agent, number: int) -> Ticket:
    try:
        return await visible_ticket(session, agent, number)
    except TicketNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ticket #{number}") from None


@router.get("/kb/articles", response_model=ArticleList)
async def list_articles(
    agent: CurrentAgent,
    request: Request,
    status_: Annotated[ArticleStatus | None, Query(alias="status")] = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ArticleList:
    """Agents see published articles; supervisors and admins see drafts too."""
    async with runtime_of(request).db.read() as session:
        page = await catalog.article_page(
            session,
            with_drafts=sees_all(agent),
            status=status_,
            language=language,
            limit=limit,
            offset=offset,
        )
        return ArticleList(articles=[article_out(a) for a in page.articles], total=page.total)


@router.get("/kb/articles/{article_id}", response_model=ArticleOut)
async def read_article(article_id: ArticleId, agent: CurrentAgent, request: Request) -> ArticleOut:
    async with runtime_of(request).db.read() as session:
        return article_out(await _article(session, agent, article_id))


@router.post("/kb/articles", response_model=ArticleOut, status_code=201)
async def create_article(body: ArticleIn, _agent: Overseer, request: Request) -> ArticleOut:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        article = await _checked(
            kb_articles.create(session, ArticleFields(**body.model_dump()), now=runtime.clock.now())
        )
        out = article_out(article)
    return out


@router.patch("/kb/articles/{article_id}", response_model=ArticleOut)
async def update_article(
    article_id: ArticleId, body: ArticlePatch, agent: Overseer, request: Request
) -> ArticleOut:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        article = await _article(session, agent, article_id)
        fields = ArticleFields(**body.model_dump(exclude_unset=True))
        await _checked(
            kb_articles.update_article(session, article, fields, now=runtime.clock.now())
        )
        out = article_out(article)
    return out


@router.post("/kb/articles/{article_id}/publish", response_model=ArticleOut)
async def publish_article(article_id: ArticleId, agent: Overseer, request: Request) -> ArticleOut:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        article = await _article(session, agent, article_id)
        fields = ArticleFields(status=ArticleStatus.PUBLISHED)
        await kb_articles.update_article(session, article, fields, now=runtime.clock.now())
        out = article_out(article)
    return out


@router.delete("/kb/articles/{article_id}", status_code=204)
async def delete_article(article_id: ArticleId, agent: Overseer, request: Request) -> None:
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        await kb_articles.delete(session, await _article(session, agent, article_id))


ALREADY_VOTED = "you have already voted on this article; each agent votes once"


@router.post(
    "/kb/articles/{article_id}/votes",
    status_code=204,
    responses={409: {"description": "this agent has voted on the article already"}},
)
async def vote_article(
    article_id: ArticleId, body: VoteIn, agent: CurrentAgent, request: Request
) -> None:
    """An agent's helpful / not-helpful vote; it moves the article's ranking. One per agent
    per article."""
    runtime = runtime_of(request)
    try:
        async with runtime.db.transaction() as session:
            article = await _article(session, agent, article_id)
            counted = await kb_articles.agent_vote(
                session, article, agent.id, body.helpful, runtime.clock.now()
            )
    except IntegrityError:  # the same agent's second vote at the same instant
        counted = False
    if not counted:
        raise HTTPException(status.HTTP_409_CONFLICT, ALREADY_VOTED)


@router.get("/kb/suggestions", response_model=list[SuggestionOut])
async def suggest(
    agent: CurrentAgent,
    request: Request,
    text: Annotated[str, Query(min_length=1, max_length=4000)],
    language: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=10)] = 3,
) -> list[SuggestionOut]:
    """Rank articles for any text, as the bot and the ticket view do."""
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        found = await runtime.kb.service.suggest(session, text, language=language, limit=limit)
    return [_suggestion_out(s) for s in found]


@router.get("/tickets/{number}/suggestions", response_model=TicketSuggestions)
async def ticket_suggestions(
    number: TicketNumber, agent: CurrentAgent, request: Request
) -> TicketSuggestions:
    """The top three articles for the customer's latest message on the ticket."""
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        ticket = await _ticket(session, agent, number)
        latest = await queries.latest_customer_message(session, ticket.id)
        if latest is None:
            return TicketSuggestions(message_id=None, suggestions=[])
        language = await customers.customer_language(session, ticket.customer_id)
        found = await runtime.kb.service.suggest(session, latest.text, language=language)
    return TicketSuggestions(message_id=latest.id, suggestions=[_suggestion_out(s) for s in found])


@router.post("/tickets/{number}/kb/insert", response_model=InsertOut)
async def insert_article(
    number: TicketNumber, body: InsertIn, agent: CurrentAgent, request: Request
) -> InsertOut:
    """Put an article into the reply: returned as text for the reply box, or sent at once.
    Either way it counts as a use of the article."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        ticket = await _ticket(session, agent, number)
        article = await _article(session, agent, body.article_id)
        text = to_text(article.body) or article.title
        message_id = None
        if body.send:
            try:
                outcome = await tickets.reply(session, agent, ticket, text, now=runtime.clock.now())
            except tickets.TicketRuleError as exc:
                raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
            message_id = outcome.message.id if outcome.message else None
        await kb_articles.count_use(session, article.id)
    return InsertOut(article_id=body.article_id, text=text, message_id=message_id)


@router.post("/tickets/{number}/kb/draft", response_model=ArticleOut, status_code=201)
async def reply_to_draft(
    number: TicketNumber, body: DraftIn, agent: CurrentAgent, request: Request
) -> ArticleOut:
    """Turn a good agent reply into a draft article; the customer's question before it becomes
    its first known phrasing. A supervisor reviews and publishes it."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as session:
        ticket = await _ticket(session, agent, number)
        reply = await queries.agent_reply(session, ticket.id, body.message_id)
        if reply is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"no agent reply {body.message_id} on #{number}"
            )
        question = await queries.latest_customer_message(session, ticket.id, before=reply.id)
        phrasings = [question.text] if question is not None and question.text.strip() else []
        title = body.title or (phrasings[0][:200] if phrasings else ticket.subject[:200])
        fields = ArticleFields(
            title=title, body=reply.text, phrasings=phrasings, status=ArticleStatus.DRAFT
        )
        article = await _checked(kb_articles.create(session, fields, now=runtime.clock.now()))
        out = article_out(article)
    return out


def _suggestion_out(suggestion: Suggestion) -> SuggestionOut:
    return SuggestionOut(
        article_id=suggestion.article_id,
        title=suggestion.title,
        language=suggestion.language,
        confidence=suggestion.confidence,
        reason=suggestion.reason,
    )
