"""The shapes of the customer's picture and consent in the API (issue 17's workspace shows
them): documented field by field, since other screens and integrations read them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class IdentityOut(BaseModel):
    id: int
    channel: str = Field(description="email, telegram, webchat, phone")
    address: str = Field(description="The address on that channel (an email, a user id, ...)")
    display_name: str
    username: str | None = Field(description="The channel's handle (Telegram @username)")
    verified: bool = Field(description="False: typed by the customer, not proven; joins nothing")
    unreachable: bool


class AccountOut(BaseModel):
    id: int
    name: str


class PersonOut(BaseModel):
    id: int
    name: str


class TicketLineOut(BaseModel):
    number: int
    subject: str
    channel: str
    status: str
    kind: str
    priority: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    satisfaction: int | None = Field(description="The customer's 1-5 rating of this ticket")
    satisfaction_at: datetime | None
    merged_into: int | None


class SatisfactionOut(BaseModel):
    ratings: int = Field(description="How many of the listed tickets the customer rated")
    average: float | None
    satisfied_share: float | None = Field(description="Share of ratings of 4 or 5")


class ComplaintOut(BaseModel):
    ticket: int
    subject: str
    status: str
    opened_at: datetime
    root_cause: str | None = Field(description="None until the complaint is resolved")
    remedy: str | None
    resolved_at: datetime | None
    follow_up_answer: str | None = Field(description="worked, failed, or None if not asked")


class ConsentStateOut(BaseModel):
    channel: str
    granted: bool = Field(description="Whether proactive messages may go on this channel")
    at: datetime | None = Field(description="When the latest grant or withdrawal was recorded")
    source: str | None = Field(description="agent, customer, import or system")
    agent_id: int | None = Field(description="The agent who recorded it")
    note: str = Field(description="How it was given, in the agent's words")


class CustomerPicture(BaseModel):
    """One customer as the asking agent may see them: tickets outside the agent's sight are
    not listed (supervisors and admins see all)."""

    id: int
    name: str
    email: str | None
    phone: str | None
    language: str | None
    created_at: datetime
    erased_at: datetime | None = Field(description="Set once the personal data was erased")
    identities: list[IdentityOut]
    account: AccountOut | None
    tier: str | None = Field(description="The effective tier: overrides and the account's win")
    key_account: bool
    manager: PersonOut | None = Field(description="The relationship manager")
    backup: PersonOut | None = Field(description="The manager's backup")
    tickets: list[TicketLineOut] = Field(description="Every ticket on every channel, newest first")
    satisfaction: SatisfactionOut
    complaints: list[ComplaintOut]
    consent: list[ConsentStateOut] = Field(description="One entry per channel")


class CustomerFound(BaseModel):
    id: int
    name: str
    email: str | None
    phone: str | None


class CustomerSearchPage(BaseModel):
    customers: list[CustomerFound]
    total: int
    limit: int
    offset: int


class ConsentIn(BaseModel):
    channel: Literal["email", "telegram", "webchat"]
    granted: bool
    note: str = Field(
        default="",
        max_length=2000,
        description="How the customer gave or withdrew it ('asked on the phone')",
    )
    source: Literal["agent", "customer", "import"] = Field(
        default="agent",
        description="agent: recorded by the agent on the customer's behalf; customer: the "
        "customer did it themselves (a form); import: from another system",
    )


class ConsentRecordOut(BaseModel):
    id: int
    channel: str
    granted: bool
    at: datetime
    source: str
    agent_id: int | None
    note: str


class ConsentOut(BaseModel):
    current: list[ConsentStateOut]
    history: list[ConsentRecordOut] = Field(description="Every grant and withdrawal, oldest first")


class ErasedOut(BaseModel):
    customer_id: int
    tickets: int
    messages: int
    files: int
