"""What the JSON API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from helpdesk.common.sanitize import clean_text
from helpdesk.staff.models import Role
from helpdesk.tickets.models import Priority, TicketKind, TicketStatus

# Every free-text field arrives without control characters (NUL breaks PostgreSQL text).
CleanStr = Annotated[str, AfterValidator(clean_text)]

# Ids beyond this overflow PostgreSQL's bigint; refuse them as bad input, not a server error.
MAX_ID = 2**62


class LoginIn(BaseModel):
    email: CleanStr = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class TeamOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    name: str
    role: Role
    teams: list[TeamOut]


class AgentAccountOut(AgentOut):
    active: bool
    created_at: datetime


class PasswordChangeIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class PasswordResetIn(BaseModel):
    password: str = Field(min_length=8, max_length=1024)


class RoleChangeIn(BaseModel):
    role: Role


class AgentNewIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field("", max_length=200)
    password: str = Field(min_length=8, max_length=1024)
    role: Role = Role.AGENT
    # Team names; a team that does not exist yet is created.
    teams: list[str] = Field(default_factory=list, max_length=20)


class LoginOut(BaseModel):
    token: str = Field(description="Send as 'Authorization: Bearer <token>'")
    csrf_token: str = Field(description="Send as X-CSRF-Token when using the session cookie")
    agent: AgentOut


class CustomerOut(BaseModel):
    id: int
    name: str
    email: str | None
    tier: str
    identities: list[dict[str, str | bool]] = []


class TicketSummary(BaseModel):
    number: int
    subject: str
    status: TicketStatus
    priority: Priority
    kind: TicketKind
    channel: str
    customer_id: int
    customer_name: str
    assignee_id: int | None
    team_id: int | None
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    last_customer_message_at: datetime | None
    # When the bot stepped aside for a person (None: the bot may still answer).
    handed_over_at: datetime | None
    # The customer's 1-5 answer to the satisfaction question.
    satisfaction: int | None
    # What the customer wrote with the rating (the email survey's page), and their 0-10
    # answer to "would you recommend us to a friend?".
    satisfaction_comment: str | None = None
    recommend_score: int | None = None
    # Set when an agent merged this ticket into another: its messages are there now.
    merged_into: int | None = None
    # Where the first message came in within its channel: an email's mailbox name.
    entry_point: str | None = None


class TicketPage(BaseModel):
    tickets: list[TicketSummary]
    total: int
    limit: int
    offset: int


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str


class MessageOut(BaseModel):
    id: int
    direction: Literal["in", "out", "note"]
    author_type: str
    author_name: str
    channel: str
    text: str
    html: str | None
    # Remote images taken out of `html`; ask with `remote_images=true` to see them.
    remote_images_blocked: int = 0
    created_at: datetime
    delivery_state: str
    delivery_error: str | None
    attachments: list[AttachmentOut]
    # A phone call's or a visit's length; the agent who took it is the author or `agent_id`.
    duration_seconds: int | None = None
    agent_id: int | None = None
    # An email's Date header as sent, when it was not taken as the time the mail was sent (it
    # lay in the future or could not be read): the mail's time is then its arrival.
    original_date: str | None = None


class TicketDetail(TicketSummary):
    customer: CustomerOut
    messages: list[MessageOut]
    # Why the ticket is with its agent, or why it waits (the latest routing decision).
    routing_reason: str | None = None


class AttachmentIn(BaseModel):
    filename: CleanStr = Field(min_length=1, max_length=255)
    content_type: str = Field(
        "application/octet-stream", max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+$"
    )
    data_base64: str = Field(
        min_length=1, max_length=14 * 1024 * 1024, description="The file, base64 (10 MB at most)"
    )


class ReplyIn(BaseModel):
    text: CleanStr = Field(min_length=1, max_length=65536)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=10)
    via_identity_id: int | None = Field(
        None,
        ge=1,
        le=MAX_ID,
        description="Send on another of the customer's proven addresses (their identities' "
        "ids, `GET /api/customers/{id}`) instead of where they wrote",
    )
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Repeat a request with the same key and the reply is stored and sent once",
    )


class NoteIn(BaseModel):
    text: CleanStr = Field(min_length=1, max_length=65536)


class TicketPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: TicketStatus | None = None
    priority: Priority | None = None
    kind: TicketKind | None = None
    assignee_id: int | None = Field(None, ge=1, le=MAX_ID, description="null unassigns")
    team_id: int | None = Field(None, ge=1, le=MAX_ID, description="null removes the team")
    remedy: str | None = Field(
        None, max_length=4000, description="Resolving a complaint: what was done to put it right"
    )
    root_cause: str | None = Field(
        None, max_length=100, description="Resolving a complaint: one of the configured causes"
    )


class MessageCreated(BaseModel):
    message: MessageOut
    duplicate: bool = False


class AuditOut(BaseModel):
    at: datetime
    actor_type: str
    actor_id: int | None
    action: str
    detail: dict[str, object]


class ChatSessionIn(BaseModel):
    token: str | None = Field(None, max_length=1024, description="An earlier token to renew")


class ChatSessionOut(BaseModel):
    token: str
    visitor: str
    websocket_path: str = "/api/chat/ws"
