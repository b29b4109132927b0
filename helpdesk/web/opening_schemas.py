"""What the API accepts and returns for tickets agents open, touch points, merges and splits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from helpdesk.tickets.models import Priority, TicketKind
from helpdesk.tickets.touchpoints import MAX_DURATION_SECONDS
from helpdesk.web.schemas import MAX_ID, CleanStr, MessageOut, TicketSummary

IdempotencyKey = Field(
    None,
    min_length=1,
    max_length=64,
    pattern=r"^[A-Za-z0-9_.:-]+$",
    description="Repeat a request with the same key and it takes effect once",
)
TouchPointChannel = Literal["phone", "visit"]


class CustomerRef(BaseModel):
    """An existing customer by id, or one found or created by email address or phone."""

    model_config = ConfigDict(extra="forbid")
    id: int | None = Field(None, ge=1, le=MAX_ID)
    email: CleanStr | None = Field(None, min_length=3, max_length=254)
    phone: CleanStr | None = Field(None, min_length=4, max_length=40)
    name: CleanStr = Field("", max_length=200, description="For a new customer")

    @model_validator(mode="after")
    def _named(self) -> CustomerRef:
        if self.id is None and not self.email and not self.phone:
            raise ValueError("give the customer's id, email or phone")
        return self


class FirstMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["email", "telegram", "webchat", "phone", "visit"]
    text: CleanStr = Field(min_length=1, max_length=65536)
    direction: Literal["in", "out"] = Field(
        "out", description="Touch points: in when the customer called or came, out when we did"
    )
    duration_seconds: int | None = Field(None, ge=0, le=MAX_DURATION_SECONDS)
    customer_asked: bool = Field(
        False, description="The customer asked to be contacted (not a proactive message)"
    )


class TicketOpenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: CustomerRef
    subject: CleanStr = Field(min_length=1, max_length=200)
    message: FirstMessageIn
    team_id: int | None = Field(None, ge=1, le=MAX_ID)
    assignee_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Leave out and routing places the ticket"
    )
    priority: Priority = Priority.NORMAL
    kind: TicketKind = TicketKind.QUESTION
    idempotency_key: str | None = IdempotencyKey


class TicketOpened(BaseModel):
    ticket: TicketSummary
    message: MessageOut
    duplicate: bool = False
    customer_created: bool = False


class TouchPointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: TouchPointChannel
    direction: Literal["in", "out"]
    text: CleanStr = Field(min_length=1, max_length=65536)
    duration_seconds: int | None = Field(None, ge=0, le=MAX_DURATION_SECONDS)
    idempotency_key: str | None = IdempotencyKey


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticket: int = Field(ge=1, le=MAX_ID, description="The ticket merged into this one")
    tell_customer: bool = False
    text: CleanStr | None = Field(
        None, min_length=1, max_length=65536, description="What the customer is told, if told"
    )


class MergeOut(BaseModel):
    ticket: TicketSummary
    merged: TicketSummary
    told: MessageOut | None = None


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_id: int = Field(ge=1, le=MAX_ID)
    subject: CleanStr | None = Field(None, min_length=1, max_length=200)
